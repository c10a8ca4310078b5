"""Send to Rally, link, unlink, retry, jobs and Integration updates: who may, and bad input."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationState
from aharally.records.services import update_record
from aharally.sync.models import Conflict, Link, OutboxItem, OutboxKind, OutboxState, SendJob
from aharally.sync.outgoing import outbox
from tests.factories import make_feature, make_link
from tests.sync.support import connect

pytestmark = pytest.mark.django_db

ROLES = ["owner", "contributor", "reviewer", "viewer", "outsider"]


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


@pytest.fixture
def feature(cast):
    return make_feature(cast.workspace, name="Checkout")


def url(name, feature, **extra):
    return reverse(
        f"sync:{name}",
        kwargs={"prefix": "PLAT", "record_type": "feature", "record_id": feature.pk, **extra},
    )


def as_(client, cast, who):
    client.force_login(getattr(cast, who))
    return client


@pytest.mark.parametrize("who", ROLES)
def test_only_contributors_and_owners_may_send(client, cast, integration, feature, who):
    response = as_(client, cast, who).post(
        url("send", feature), {"integration": integration.pk}, HTTP_HX_REQUEST="true"
    )
    expected = {"owner": 200, "contributor": 200, "reviewer": 403, "viewer": 403, "outsider": 404}
    assert response.status_code == expected[who]
    sent = OutboxItem.objects.filter(record_id=feature.pk, kind=OutboxKind.CREATE).exists()
    assert sent == (expected[who] == 200)


def test_the_menu_asked_from_the_board_gives_the_card_its_link(client, cast, integration, feature):
    make_link(
        integration,
        feature,
        rally_oid=1,
        rally_type="x",
        formatted_id="F1",
        url="https://rally.example.com/#/detail/x/1",
    )
    response = as_(client, cast, "owner").get(
        url("record_menu", feature),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/w/PLAT/features/board/",
    )
    page = response.content.decode()
    assert f'<span class="card-links" id="card-links-{feature.pk}" hx-swap-oob="true">' in page
    assert 'href="https://rally.example.com/#/detail/x/1"' in page and ">F1</a>" in page
    elsewhere = client.get(url("record_menu", feature), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-swap-oob" not in elsewhere


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("action", ["link", "unlink", "retry"])
def test_only_contributors_and_owners_may_link_unlink_and_retry(
    client, cast, integration, feature, who, action
):
    make_link(
        integration,
        feature,
        rally_oid=1,
        rally_type="x",
        formatted_id="F1",
        url="https://rally.example.com/#/detail/x/1",
    )
    response = as_(client, cast, who).post(
        url(action, feature), {"integration": integration.pk, "formatted_id": "F2"}
    )
    if who in ("owner", "contributor"):
        assert response.status_code == 302
    else:
        assert response.status_code == {"outsider": 404}.get(who, 403)
        assert Link.objects.filter(record_id=feature.pk).count() == 1
        assert not OutboxItem.objects.exists()


@pytest.mark.parametrize("who", ROLES)
def test_members_see_the_menu_and_outsiders_do_not(client, cast, integration, feature, who):
    response = as_(client, cast, who).get(url("record_menu", feature), HTTP_HX_REQUEST="true")
    assert response.status_code == (404 if who == "outsider" else 200)
    if who != "outsider":
        assert "Integrations" in response.content.decode()


def test_a_send_to_a_disabled_integration_says_so_and_queues_nothing(
    client, cast, integration, feature
):
    Integration.objects.filter(pk=integration.pk).update(state=IntegrationState.DISABLED)
    response = as_(client, cast, "contributor").post(
        url("send", feature), {"integration": integration.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "is not enabled" in response.content.decode()
    assert not OutboxItem.objects.exists()


def test_a_send_to_an_integration_needing_reauthorization_says_so(
    client, cast, integration, feature
):
    Integration.objects.filter(pk=integration.pk).update(needs_reauthorization=True)
    response = as_(client, cast, "contributor").post(
        url("send", feature), {"integration": integration.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "needs re-authorization" in response.content.decode()
    assert not OutboxItem.objects.exists()


def test_another_workspaces_integration_is_not_found(client, cast, rally_sandbox, feature):
    theirs = connect(cast.other_workspace, rally_sandbox, owner=cast.outsider)
    response = as_(client, cast, "contributor").post(
        url("send", feature), {"integration": theirs.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 404
    assert not OutboxItem.objects.exists()


@pytest.mark.parametrize("bad", ["", "F 12", "12", "DROP TABLE", "F" + "9" * 30])
def test_a_malformed_formatted_id_is_refused_with_a_message(
    client, cast, integration, feature, bad
):
    response = as_(client, cast, "contributor").post(
        url("link", feature),
        {"integration": integration.pk, "formatted_id": bad},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Enter a Rally FormattedID" in response.content.decode()
    assert not OutboxItem.objects.exists()


def test_a_formatted_id_linked_already_is_refused(client, cast, integration, feature):
    other = make_feature(cast.workspace, name="Other")
    make_link(
        integration,
        other,
        rally_oid=5,
        rally_type="x",
        formatted_id="F5",
        url="https://rally.example.com/#/detail/x/5",
    )
    response = as_(client, cast, "contributor").post(
        url("link", feature),
        {"integration": integration.pk, "formatted_id": "f5"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert f"F5 is already linked to {other.reference}" in response.content.decode()
    assert not OutboxItem.objects.exists()


def test_a_record_type_without_a_menu_is_not_found(client, cast, integration, feature):
    response = as_(client, cast, "contributor").post(
        reverse("sync:send", kwargs={"prefix": "PLAT", "record_type": "secret", "record_id": 1}),
        {"integration": integration.pk},
    )
    assert response.status_code == 404


def test_a_job_of_another_workspace_is_not_found(client, cast, rally_sandbox):
    theirs = connect(cast.other_workspace, rally_sandbox, owner=cast.outsider)
    job = SendJob.objects.create(workspace=cast.other_workspace, integration=theirs, label="x")
    own = reverse("sync:job", kwargs={"prefix": "PLAT", "job_id": job.pk})
    assert as_(client, cast, "contributor").get(own).status_code == 404
    elsewhere = reverse("sync:job", kwargs={"prefix": "ELSE", "job_id": job.pk})
    assert client.get(elsewhere).status_code == 404


# -- Integration updates -----------------------------------------------------------------------


@pytest.fixture
def waiting(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode="approve")
    feature = make_feature(cast.workspace, name="Waiting feature")
    return outbox.request_send(record=feature, integration=integration, user=cast.contributor)


@pytest.mark.parametrize("who", ROLES)
def test_only_reviewers_and_owners_of_the_workspace_may_approve(client, cast, waiting, who):
    response = as_(client, cast, who).post(
        reverse("sync:decide"), {"action": "approve", "ids": [waiting.pk]}
    )
    waiting.refresh_from_db()
    if who in ("owner", "reviewer"):
        assert response.status_code == 302
        assert waiting.state == OutboxState.QUEUED
        assert waiting.decided_by == getattr(cast, who)
    else:
        assert response.status_code == 403
        assert waiting.state == OutboxState.AWAITING_APPROVAL


def test_a_reviewer_of_another_workspace_cannot_approve_this_ones_change(
    client, cast, waiting, rally_sandbox
):
    # The outsider owns (and so reviews) their own workspace, not this one.
    response = as_(client, cast, "outsider").post(
        reverse("sync:decide"), {"action": "reject", "ids": [waiting.pk]}
    )
    assert response.status_code == 403
    waiting.refresh_from_db()
    assert waiting.state == OutboxState.AWAITING_APPROVAL


def test_the_queue_lists_waiting_changes_to_reviewers_only(client, cast, waiting):
    page = as_(client, cast, "reviewer").get(reverse("sync:integration_updates")).content.decode()
    assert "Waiting feature" in page and "New in Rally" in page
    assert "Rank →" not in page  # a create takes no place of its own: no float to read
    client.force_login(cast.outsider)
    assert "Waiting feature" not in client.get(reverse("sync:integration_updates")).content.decode()


def test_filtering_the_queue_answers_the_queue_alone(client, cast, waiting):
    response = as_(client, cast, "reviewer").get(
        reverse("sync:integration_updates"),
        {"record_type": "feature"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="queue",
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="queue">') and "Waiting feature" in page
    assert "<html" not in page


def test_rejecting_keeps_the_record_and_records_who(client, cast, waiting):
    as_(client, cast, "reviewer").post(reverse("sync:decide"), {"action": f"reject:{waiting.pk}"})
    waiting.refresh_from_db()
    assert waiting.state == OutboxState.REJECTED
    assert waiting.decided_by == cast.reviewer and waiting.decided_at is not None
    page = client.get(reverse("sync:integration_updates")).content.decode()
    assert "Waiting feature" not in page


def test_deciding_nothing_says_what_to_do(client, cast, waiting):
    response = as_(client, cast, "reviewer").post(
        reverse("sync:decide"), {"action": "approve"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Select at least one change" in response.content.decode()


def test_the_top_bar_shows_the_count_to_reviewers(client, cast, waiting):
    page = as_(client, cast, "reviewer").get("/w/PLAT/features/board/").content.decode()
    assert 'class="update-dot"' in page and ">1</span>" in page
    page = as_(client, cast, "contributor").get("/w/PLAT/features/board/").content.decode()
    assert "Integration updates" not in page


@pytest.mark.parametrize("who", ROLES)
def test_only_owners_may_sync_now(
    client, cast, integration, who, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    url = reverse("sync:sync_now", kwargs={"prefix": "PLAT", "integration_id": integration.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = as_(client, cast, who).post(url)
    expected = {"owner": 302, "contributor": 403, "reviewer": 403, "viewer": 403, "outsider": 404}
    assert response.status_code == expected[who]
    # A catch-up and a drain are queued for the cluster; nothing for anyone else.
    assert OrmQ.objects.count() == (2 if who == "owner" else 0)


def test_sync_now_is_offered_in_more_options_and_says_what_it_does(client, cast, integration):
    settings_url = reverse(
        "integrations:settings", kwargs={"prefix": "PLAT", "integration_id": integration.pk}
    )
    page = as_(client, cast, "owner").get(settings_url).content.decode()
    assert "Sync now" in page
    url = reverse("sync:sync_now", kwargs={"prefix": "PLAT", "integration_id": integration.pk})
    followed = client.post(url, follow=True).content.decode()
    assert "Syncing “Rally” with Rally now" in followed


@pytest.mark.parametrize("state", [OutboxState.QUEUED, OutboxState.IN_FLIGHT])
def test_failed_and_retrying_lists_a_change_being_retried(client, cast, integration, state):
    """What the record's menu calls "Retrying", the reviewer sees under Failed and retrying."""
    feature = make_feature(cast.workspace, name="Retried feature")
    OutboxItem.objects.create(
        integration=integration,
        record_type="feature",
        record_id=feature.pk,
        kind=OutboxKind.CREATE,
        state=state,
        error_kind="transient",
        error_message="Rally is unavailable (HTTP 503)",
        attempts=1,
        created_by=cast.contributor,
    )
    page = as_(client, cast, "reviewer").get(reverse("sync:integration_updates")).content.decode()
    assert "Nothing has failed" not in page
    assert "Retried feature" in page and "Rally is unavailable (HTTP 503)" in page
    menu = as_(client, cast, "contributor").get(url("record_menu", feature), HTTP_HX_REQUEST="true")
    menu = menu.content.decode()
    assert "Retrying: Rally is unavailable (HTTP 503)" in menu


def test_a_rich_text_edit_waiting_out_its_quiet_period_says_when_and_sends_now_on_request(
    client, cast, integration, settings
):
    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 300
    feature = make_feature(cast.workspace, name="Quiet feature")
    make_link(integration, feature, rally_oid=424242)
    update_record(feature, changes={"description": "<p>Still typing</p>"}, user=cast.contributor)
    row = OutboxItem.objects.get(record_id=feature.pk, state=OutboxState.QUEUED)
    assert row.not_before is not None

    client = as_(client, cast, "contributor")
    menu = client.get(url("record_menu", feature), HTTP_HX_REQUEST="true").content.decode()
    assert "Sends in 5 min —" in menu
    assert "Send now</button>" in menu and "Sending to Rally…" not in menu
    assert 'hx-trigger="load delay:30s"' in menu  # no polling every second for five minutes

    client.post(url("send", feature), {"integration": integration.pk}, HTTP_HX_REQUEST="true")
    row.refresh_from_db()
    assert row.not_before is None
    menu = client.get(url("record_menu", feature), HTTP_HX_REQUEST="true").content.decode()
    assert "Sending to Rally…" in menu and "Sends in" not in menu


def test_a_pending_change_shows_rallys_newer_value_where_the_catch_up_saw_one(
    client, cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode="approve")
    feature = make_feature(cast.workspace, name="Agreed name")
    link = make_link(integration, feature, rally_oid=515151, baseline={"name": "Agreed name"})
    update_record(feature, changes={"name": "Our new name"}, user=cast.contributor)
    Conflict.objects.create(
        link=link, field="description", ours="<p>a</p>", theirs="<p>b</p>", baseline=""
    )
    page = as_(client, cast, "reviewer").get(reverse("sync:integration_updates")).content.decode()
    assert "In Rally, last known" in page and "In Rally now" not in page
    assert '<td class="old">Agreed name</td>' in page  # no newer value seen: the agreed one

    Conflict.objects.create(
        link=link, field="name", ours="Our new name", theirs="Rally's newer name", baseline=""
    )
    page = as_(client, cast, "reviewer").get(reverse("sync:integration_updates")).content.decode()
    assert "Rally&#x27;s newer name" in page
    assert "changed in Rally since they last agreed" in page
