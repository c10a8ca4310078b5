"""People: Rally's users read in pages, matched by e-mail or by hand, and the owner's page."""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations.models import IntegrationLogEntry
from aharally.sync import people
from aharally.sync.models import PersonDecision, RallyPerson
from tests.factories import add_member, make_user
from tests.sandbox import RallySandbox
from tests.sync.support import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _requests(sandbox) -> int:
    return sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]


def test_rally_users_are_read_and_matched_by_email(cast, rally_sandbox, integration):
    pat = make_user("PM@example.com")  # Rally spells it pm@example.com
    add_member(cast.workspace, pat, "contributor")
    assert not people.people_map(integration).read

    read = people.read_people(integration)

    emails = set(
        RallyPerson.objects.filter(integration=integration).values_list("email", flat=True)
    )
    assert read == len(emails) and {"pm@example.com", "developer@example.com"} <= emails
    found = people.people_map(integration)
    assert found.read
    assert found.rally_user("pm@example.com").ref.endswith(
        f"/user/{RallyPerson.objects.get(email='pm@example.com').rally_oid}"
    )
    assert found.rally_user(cast.owner.email) is None  # owner@example.com has no Rally user
    assert [u.email for u in people.unmatched_members(integration, found)] == sorted(
        [cast.owner.email, cast.contributor.email, cast.reviewer.email, cast.viewer.email]
    )


def test_a_hand_made_pair_wins_over_email_and_nobody_names_no_one(cast, rally_sandbox, integration):
    people.read_people(integration)
    pat = make_user("pm@example.com")
    add_member(cast.workspace, pat, "contributor")
    pm = RallyPerson.objects.get(integration=integration, email="pm@example.com")
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")

    people.decide(integration, rally_oid=dana.rally_oid, choice=str(pat.pk), user=cast.owner)
    found = people.people_map(integration)
    # Pat's own address no longer pairs them with Rally's pm@: the hand-made pair wins.
    assert found.rally_user("pm@example.com").ref.endswith(f"/user/{dana.rally_oid}")
    assert found.by_oid[pm.rally_oid].how == ""
    owner_dana = {"ObjectID": dana.rally_oid, "EmailAddress": "developer@example.com"}
    assert found.in_aharally(owner_dana, "developer@example.com") == "pm@example.com"
    assert found.member_id("pm@example.com", cast.workspace.pk) == pat.pk

    people.decide(integration, rally_oid=dana.rally_oid, choice="nobody", user=cast.owner)
    found = people.people_map(integration)
    assert found.in_aharally(owner_dana, "developer@example.com") == "developer@example.com"
    assert found.member_id("developer@example.com", cast.workspace.pk) is None
    # …and Pat is matched by e-mail again.
    assert found.rally_user("pm@example.com").ref.endswith(f"/user/{pm.rally_oid}")


@pytest.mark.parametrize(
    "rally_oid, choice, message",
    [
        ("not-a-number", "nobody", "Choose a Rally user"),
        ("1", "nobody", "not one of this subscription's users"),
        (None, "outsider", "Only members of this integration's workspaces"),
        (None, "tampered", "Choose a member"),
    ],
)
def test_bad_pairs_are_refused_with_a_reason_and_change_nothing(
    cast, rally_sandbox, integration, rally_oid, choice, message
):
    people.read_people(integration)
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")
    choice = {"outsider": str(cast.outsider.pk), "tampered": "1 OR 1=1"}.get(choice, choice)
    with pytest.raises(people.PeopleError, match=message):
        people.decide(
            integration, rally_oid=rally_oid or dana.rally_oid, choice=choice, user=cast.owner
        )
    dana.refresh_from_db()
    assert dana.decision == "" and dana.member_id is None


def test_a_member_without_a_rally_user_is_logged_once_a_day(cast, rally_sandbox, integration):
    for _ in range(3):
        people.say_unmatched_once(integration, "dave@example.com")
    people.say_unmatched_once(integration, "erin@example.com")
    lines = IntegrationLogEntry.objects.filter(integration=integration, message__contains="has no")
    assert sorted(line.message.split()[0] for line in lines) == [
        "dave@example.com",
        "erin@example.com",
    ]


def test_five_thousand_people_who_see_the_project_cost_three_requests_and_the_page_a_constant_count(
    cast, client, integration
):
    with RallySandbox() as crowded:
        crowded.add_users(
            [
                {
                    "email": f"person{n}@example.com",
                    "first_name": "Person",
                    "last_name": str(n),
                    "projects": {"Platform": "Editor" if n % 2 else "Viewer"},
                }
                for n in range(5000)
            ]
            # people of the subscription who can't see Platform are not listed
            + [
                {"email": f"mobile{n}@example.com", "projects": {"Mobile": "Editor"}}
                for n in range(300)
            ]
            + [{"email": f"outsider{n}@example.com"} for n in range(200)]
            # a workspace administrator sees every project of the workspace
            + [{"email": "ws-admin@example.com", "workspaces": {"Engineering": "Admin"}}]
        )
        crowded_integration = connect(cast.workspace, crowded, owner=cast.owner, name="Crowded")
        crowded.admin("POST", "/sandbox-admin/stats/reset")
        read = people.read_people(crowded_integration)
        # and the developer (an Editor), Pat and Alex (subscription administrators)
        assert read == 5004
        emails = set(
            RallyPerson.objects.filter(integration=crowded_integration).values_list(
                "email", flat=True
            )
        )
        assert "ws-admin@example.com" in emails and "developer@example.com" in emails
        assert not {e for e in emails if e.startswith(("mobile", "outsider"))}
        # ⌈5,001 permissions / 2,000⌉ pages, the workspace's and the subscription's administrators
        assert _requests(crowded) == 3 + 1 + 1

    client.force_login(cast.owner)
    url = f"/w/PLAT/sync/integrations/{crowded_integration.pk}/people/"

    def page(**params):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    page()  # the session and the user, loaded once
    first, few = page()
    assert "Page 1 of 101" in first and "5004 users" in first
    later, many = page(page=60)
    assert "Page 60 of 101" in later
    found, searched = page(q="person4321")
    assert "person4321@example.com" in found and "Page 1 of" not in found
    assert few == many == searched, (few, many, searched)


def test_people_is_for_members_to_see_and_owners_to_change(
    cast, client, rally_sandbox, integration
):
    people.read_people(integration)
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")
    url = f"/w/PLAT/sync/integrations/{integration.pk}/people/"
    client.force_login(cast.reviewer)
    page = client.get(url)
    assert page.status_code == 200 and "Dana Developer" in page.content.decode()
    assert 'name="member"' not in page.content.decode()  # nothing to change
    refused = client.post(url + "decide/", {"rally_oid": dana.rally_oid, "member": "nobody"})
    assert refused.status_code == 403
    client.force_login(cast.outsider)
    assert client.get(url).status_code == 404

    client.force_login(cast.owner)
    answer = client.post(
        url + "decide/",
        {"rally_oid": dana.rally_oid, "member": str(cast.contributor.pk)},
        HTTP_HX_REQUEST="true",
    )
    body = answer.content.decode()
    assert answer.status_code == 200 and "<html" not in body
    assert f'id="person-{dana.rally_oid}"' in body and "Paired by hand" in body
    assert "Dana Developer is contributor@example.com here." in body
    dana.refresh_from_db()
    assert dana.decision == PersonDecision.PAIRED and dana.member_id == cast.contributor.pk

    bad = client.post(
        url + "decide/",
        {"rally_oid": dana.rally_oid, "member": str(cast.outsider.pk)},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400
    body = html.unescape(bad.content.decode())
    assert "Only members of this integration's workspaces" in body
    assert f'id="person-{dana.rally_oid}"' in body  # the row, unchanged, stays in place
    dana.refresh_from_db()
    assert dana.member_id == cast.contributor.pk


def test_the_demo_pairs_alice_and_bob_with_the_sandbox_people_once_users_are_read(
    cast, rally_sandbox, settings
):
    from aharally.records.hooks import seed_demo_extras

    settings.RALLY_OAUTH_URL = rally_sandbox.base_url
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    add_member(cast.workspace, alice, "owner")
    add_member(cast.workspace, bob, "contributor")
    assert any(
        "alice is pm@example.com" in line for line in seed_demo_extras({"alice": alice, "bob": bob})
    )
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)

    people.read_people(integration)

    found = people.people_map(integration)
    pm = RallyPerson.objects.get(integration=integration, email="pm@example.com")
    assert pm.decision == PersonDecision.PAIRED and pm.member_id == alice.pk
    assert found.rally_user("alice@example.com").ref.endswith(f"/user/{pm.rally_oid}")
    assert (
        found.member_id(
            found.in_aharally({"ObjectID": pm.rally_oid}, "pm@example.com"), cast.workspace.pk
        )
        == alice.pk
    )
    assert found.rally_user("bob@example.com") is not None


def test_manage_integrations_counts_the_members_without_a_rally_user(
    cast, client, rally_sandbox, integration
):
    from aharally.sync.web.counts import sync_counts

    assert sync_counts([integration.pk])[integration.pk].unmatched is None  # not read yet
    people.read_people(integration)
    counted = sync_counts([integration.pk])[integration.pk]
    # The members whose e-mail no Rally user has (the sync's sandbox is shared by the whole
    # session: what earlier tests left in it decides who is in Rally, not this test).
    in_rally = {
        email.lower()
        for email in RallyPerson.objects.filter(integration=integration).values_list(
            "email", flat=True
        )
    }
    members = [cast.owner, cast.contributor, cast.reviewer, cast.viewer]
    unmatched = [m for m in members if m.email.lower() not in in_rally]
    assert cast.viewer in unmatched
    assert counted.unmatched == len(unmatched)
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")
    people.decide(integration, rally_oid=dana.rally_oid, choice=str(cast.viewer.pk), user=None)
    assert sync_counts([integration.pk])[integration.pk].unmatched == len(unmatched) - 1
    client.force_login(cast.owner)
    page = client.get("/w/PLAT/settings/integrations/manage/").content.decode()
    assert f'href="{counted.people_url}"' in page and f">{len(unmatched) - 1}</a>" in page


def test_a_changed_pair_says_what_it_affects_and_sends_the_new_owners_on_request(
    cast, client, rally_sandbox, integration
):
    from aharally.sync.models import OutboxItem, OutboxKind
    from tests.factories import make_feature, make_link

    people.read_people(integration)
    feature = make_feature(cast.workspace, name="Assigned", assignee=cast.contributor)
    make_link(integration, feature, rally_oid=987654)
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")
    url = f"/w/PLAT/sync/integrations/{integration.pk}/people/"
    client.force_login(cast.owner)

    answer = client.post(
        url + "decide/",
        {"rally_oid": dana.rally_oid, "member": str(cast.contributor.pk)},
        HTTP_HX_REQUEST="true",
    )
    body = html.unescape(answer.content.decode())
    assert "1 linked record keep their Owner in Rally until you send the new one" in body
    assert f'name="members" value="{cast.contributor.pk}"' in body
    assert not OutboxItem.objects.filter(record_id=feature.pk).exists()  # nothing silently

    sent = client.post(
        url + "send-owners/", {"members": [cast.contributor.pk]}, HTTP_HX_REQUEST="true"
    )
    assert "Sending the new Owner of 1 linked record" in sent.content.decode()
    row = OutboxItem.objects.get(record_id=feature.pk)
    assert row.kind == OutboxKind.UPDATE and row.fields == ["assignee"]

    refused = client.post(
        url + "send-owners/", {"members": [cast.outsider.pk]}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 400
    assert "Choose members of this integration" in html.unescape(refused.content.decode())


def test_enabling_an_integration_asks_the_cluster_to_read_rallys_users_at_once(cast, rally_sandbox):
    """Not at the next catch-up: the first send, seconds after enabling, needs its Owners."""
    from django_q.models import OrmQ

    from aharally.sync.enqueue import READ_PEOPLE

    OrmQ.objects.all().delete()
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)

    asked = [row for row in OrmQ.objects.all() if row.func() == READ_PEOPLE]
    assert [tuple(row.task["args"]) for row in asked] == [(integration.pk,)]
