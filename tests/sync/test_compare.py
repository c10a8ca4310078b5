"""Compare with Rally: a report of what differs, each line resolved either way."""

from __future__ import annotations

import pytest

from aharally.records.models import Feature, RecordChange, Requirement
from aharally.sync.models import Comparison, DifferenceKind, JobState, Link, OutboxItem
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.reconcile import compare_report
from aharally.sync.reconcile.compare import run_comparison, start_comparison
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_requirement
from tests.sync.support import connect, sandbox_client, scope_of, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _sent(cast, integration, feature):
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def _compared(cast, integration) -> Comparison:
    comparison = start_comparison(integration=integration, user=cast.owner)
    run_comparison(comparison.pk)  # what the cluster's task does
    comparison.refresh_from_db()
    assert comparison.state == JobState.DONE, comparison.message
    return comparison


def _lines(comparison, **filters):
    return [line for line in compare_report.report(comparison) if _matches(line, filters)]


def _matches(line, filters):
    return all(getattr(line.difference, key) == value for key, value in filters.items())


def _url(cast, integration, tail=""):
    return f"/w/{cast.workspace.prefix}/sync/integrations/{integration.pk}/compare/{tail}"


def test_fields_that_differ_are_listed_with_both_values_in_one_request_a_type(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Compared {token()}")
    make_requirement(feature, name=f"Story {token()}")
    link = _sent(cast, integration, feature)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": "Renamed in Rally"})
    # Drift no one told the sync about (a restore, a bulk fix in the database).
    Feature.objects.filter(pk=feature.pk).update(due_date="2031-05-01")
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    comparison = _compared(cast, integration)

    requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
    # Features and stories: one query each for the whole project (the others have no links).
    assert requests == comparison.requests == 2
    lines = {line.difference.field: line for line in _lines(comparison, record_id=feature.pk)}
    assert set(lines) == {"name", "due_date"}
    assert lines["name"].ours == feature.name and lines["name"].theirs == "Renamed in Rally"
    assert lines["name"].baseline == feature.name
    assert lines["due_date"].ours == "2031-05-01"
    assert lines["name"].can_use_ours and lines["name"].can_use_theirs


def test_use_rallys_writes_it_as_the_integration_did_and_sends_nothing_back(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Theirs {token()}")
    link = _sent(cast, integration, feature)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": f"Rally {feature.name}"})
    comparison = _compared(cast, integration)
    [line] = _lines(comparison, record_id=feature.pk)
    rows = OutboxItem.objects.count()

    done, problems = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk],
        action="theirs",
    )

    assert (done, problems) == (1, [])
    feature.refresh_from_db()
    assert feature.name.startswith("Rally ")
    change = RecordChange.objects.filter(object_id=feature.pk, field="name").latest("id")
    # Chosen by the owner, taken from Rally: the history says both, and nothing goes back.
    assert change.source == "Rally" and change.changed_by == cast.owner
    assert OutboxItem.objects.count() == rows
    assert _lines(_compared(cast, integration), record_id=feature.pk) == []


def test_use_aharallys_sends_ours_and_then_both_agree(cast, rally_sandbox, integration):
    feature = make_feature(cast.workspace, name=f"Ours {token()}")
    link = _sent(cast, integration, feature)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": "Changed in Rally"})
    [line] = _lines(_compared(cast, integration), record_id=feature.pk)

    compare_report.resolve(
        integration=integration, user=cast.owner, difference_ids=[line.difference.pk], action="ours"
    )
    drain_outbox(integration.pk)

    with sandbox_client(rally_sandbox) as client:
        held = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"])
    assert held["Name"] == feature.name
    assert _lines(_compared(cast, integration), record_id=feature.pk) == []


def test_a_record_changed_since_the_report_is_not_overwritten(cast, rally_sandbox, integration):
    feature = make_feature(cast.workspace, name=f"Stale {token()}")
    link = _sent(cast, integration, feature)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": "Rally's"})
    [line] = _lines(_compared(cast, integration), record_id=feature.pk)
    Feature.objects.filter(pk=feature.pk).update(name="Edited after the report")

    done, problems = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk],
        action="theirs",
    )

    assert done == 0 and "changed since the report" in problems[0]
    feature.refresh_from_db()
    assert feature.name == "Edited after the report"


def test_a_story_deleted_in_rally_is_a_broken_link_sent_again_or_unlinked(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Broken {token()}")
    gone = [make_requirement(feature, name=f"Gone {n} {token()}") for n in range(2)]
    _sent(cast, integration, feature)
    story_links = Link.objects.filter(
        record_type=RecordType.REQUIREMENT, record_id__in=[r.pk for r in gone]
    ).order_by("record_id")
    with sandbox_client(rally_sandbox) as client:
        for story_link in story_links:
            client.delete(f"/hierarchicalrequirement/{story_link.rally_oid}")
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    comparison = _compared(cast, integration)

    # The two missing stories are asked for by ObjectID once more, together.
    assert rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"] == 3
    broken = _lines(comparison, kind=DifferenceKind.BROKEN)
    assert sorted(line.record.pk for line in broken) == [r.pk for r in gone]
    send, unlink = sorted(broken, key=lambda line: line.record.pk)
    compare_report.resolve(
        integration=integration, user=cast.owner, difference_ids=[send.difference.pk], action="send"
    )
    compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[unlink.difference.pk],
        action="unlink",
    )
    drain_outbox(integration.pk)
    assert not Link.objects.filter(
        record_type=RecordType.REQUIREMENT, record_id=gone[1].pk
    ).exists()
    again = Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=gone[0].pk)
    assert again.rally_oid != story_links[0].rally_oid
    with sandbox_client(rally_sandbox) as client:
        assert client.read(f"/hierarchicalrequirement/{again.rally_oid}", fetch=["Name"])["Name"]


def test_a_story_under_a_linked_feature_that_aharally_lacks_can_be_imported_in_bulk(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Parent {token()}")
    link = _sent(cast, integration, feature)
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        for n in range(2):
            client.create(
                "HierarchicalRequirement",
                {
                    "Project": f"/project/{project}",
                    "Name": f"Only in Rally {n}",
                    "PortfolioItem": f"/portfolioitem/feature/{link.rally_oid}",
                },
            )
    comparison = _compared(cast, integration)
    missing = _lines(comparison, kind=DifferenceKind.UNIMPORTED)
    assert sorted(line.difference.name for line in missing) == [
        "Only in Rally 0",
        "Only in Rally 1",
    ]

    done, _ = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk for line in missing],
        action="import",
    )

    assert done == 2
    assert sorted(Requirement.objects.filter(feature=feature).values_list("name", flat=True)) == [
        "Only in Rally 0",
        "Only in Rally 1",
    ]
    assert _lines(_compared(cast, integration), kind=DifferenceKind.UNIMPORTED) == []


def test_an_action_for_another_kind_of_line_is_refused_for_that_line(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Mixed {token()}")
    link = _sent(cast, integration, feature)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": "Other"})
    [line] = _lines(_compared(cast, integration), record_id=feature.pk)
    done, problems = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk],
        action="import",
    )
    assert done == 0 and "only a record aharally lacks" in problems[0]


def test_the_report_page_costs_the_same_queries_for_two_lines_or_twelve(
    client, cast, rally_sandbox, integration
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    features = [make_feature(cast.workspace, name=f"Page {n} {token()}") for n in range(12)]
    for feature in features:
        _sent(cast, integration, feature)
    client.force_login(cast.owner)

    def queries_for(count):
        Feature.objects.filter(pk__in=[f.pk for f in features[:count]]).update(
            due_date="2030-01-01"
        )
        comparison = _compared(cast, integration)
        assert len(_lines(comparison)) == count
        with CaptureQueriesContext(connection) as captured:
            response = client.get(_url(cast, integration))
        assert response.status_code == 200
        assert response.content.decode().count('class="line-field"') == count
        return len(captured)

    assert queries_for(2) == queries_for(12)


def test_the_page_polls_while_comparing_and_compare_again_starts_a_new_report(
    client, cast, rally_sandbox, integration
):
    client.force_login(cast.owner)
    started = client.post(_url(cast, integration, "start/"), headers={"HX-Request": "true"})
    assert 'hx-trigger="load delay:1s"' in started.content.decode()
    comparison = Comparison.objects.get()
    run_comparison(comparison.pk)
    page = client.get(_url(cast, integration), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in page and "Compare again" in page and "Compared" in page
    plain = client.post(_url(cast, integration, "start/"))
    assert plain.status_code == 302 and Comparison.objects.count() == 2


@pytest.mark.parametrize("who", ["contributor", "reviewer", "viewer"])
def test_only_owners_compare_and_resolve(client, cast, integration, who):
    client.force_login(getattr(cast, who))
    assert client.get(_url(cast, integration)).status_code == 403
    assert client.post(_url(cast, integration, "start/")).status_code == 403
    assert client.post(_url(cast, integration, "resolve/"), {"action": "ours:1"}).status_code == 403
    assert not Comparison.objects.exists()


def test_an_assignee_rally_has_no_user_for_is_not_reported_as_a_difference(
    cast, rally_sandbox, integration
):
    # Sent without an owner (Rally has no such user), as the pull leaves it: not a difference.
    feature = make_feature(cast.workspace, name=f"Nobody {token()}", assignee=cast.contributor)
    _sent(cast, integration, feature)
    assert _lines(_compared(cast, integration), record_id=feature.pk) == []


def test_a_feature_just_imported_from_rally_without_a_state_shows_no_difference(
    cast, rally_sandbox, integration
):
    """Rally's "No Entry" state becomes the workflow's first status: no Status difference."""
    from aharally.sync.reconcile import search
    from aharally.sync.reconcile.search import run_search, start_search

    word = token()
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        made = client.create(
            "PortfolioItem/Feature",
            {"Project": f"/project/{project}", "Name": f"Made in Rally {word}"},
            fetch=["ObjectID", "FormattedID", "State"],
        )
    assert made["State"] is None
    found = start_search(integration=integration, user=cast.owner, text=made.formatted_id)
    run_search(found.pk)
    found.refresh_from_db()
    search.import_chosen(search=found, user=cast.owner, oids=[made.object_id])
    feature = Feature.objects.get(name=f"Made in Rally {word}")

    assert _lines(_compared(cast, integration), record_id=feature.pk) == []
