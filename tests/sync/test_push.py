"""Sending records to the real sandbox: what Rally holds afterwards, and what it cost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from aharally.integrations.log import IntegrationLogEntry
from aharally.records.services import update_record
from aharally.sync.enqueue import PLACE_IN_RANK
from aharally.sync.models import Activity, ActivityAction, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType, WorkflowStatus
from tests.factories import make_feature, make_release, make_requirement
from tests.sync.support import (
    connect,
    rally_objects,
    rally_order,
    run_queued,
    sandbox_client,
    token,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def dated_release(cast, *, name: str | None = None):
    """A release with the dates Rally requires, named apart from other tests' releases."""
    return make_release(
        cast.workspace,
        name=name or f"R {token()}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 3, 31),
    )


def send(record, integration, cast) -> None:
    """The contributor sends the record, and the drain runs here."""
    outbox.request_send(record=record, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)


def test_it_sends_a_feature_with_its_release_and_requirements(cast, rally_sandbox, integration):
    word = token()
    release = dated_release(cast, name=f"R {word}")
    feature = make_feature(
        cast.workspace,
        release=release,
        name=f"Checkout {word}",
        description="<p>Why: <strong>faster</strong></p>",
        estimate=Decimal("8"),
        due_date=date(2027, 2, 1),
    )
    developing = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="In development"
    )
    update_record(feature, changes={"status": developing}, user=cast.contributor)
    make_requirement(feature, name=f"Pay by card {word}")
    make_requirement(feature, name=f"Pay by invoice {word}")

    send(feature, integration, cast)

    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert link.formatted_id.startswith("F")
    assert link.url == f"{rally_sandbox.base_url}/#/detail/portfolioitem/feature/{link.rally_oid}"
    with sandbox_client(rally_sandbox) as client:
        rally_feature = client.read(
            f"/portfolioitem/feature/{link.rally_oid}",
            fetch=[
                "Name",
                "Description",
                "State",
                "Release",
                "PlannedEndDate",
                "UserStories",
                "RefinedEstimate",
            ],
        )
    assert rally_feature["Name"] == f"Checkout {word}"
    assert "<strong>faster</strong>" in rally_feature["Description"]
    assert rally_feature["State"]["_refObjectName"] == "Developing"
    assert rally_feature["Release"]["_refObjectName"] == f"R {word}"
    assert rally_feature["PlannedEndDate"].startswith("2027-02-01")
    assert rally_feature["RefinedEstimate"] == 8  # the default mapping: a number to a number
    assert not IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="Estimate"
    ).exists()
    stories = rally_objects(
        rally_sandbox, "HierarchicalRequirement", word, fetch=["Name", "PortfolioItem"]
    )
    assert sorted(s["Name"] for s in stories) == [f"Pay by card {word}", f"Pay by invoice {word}"]
    assert {s["PortfolioItem"]["_ref"].rsplit("/", 1)[-1] for s in stories} == {str(link.rally_oid)}
    assert len(rally_objects(rally_sandbox, "Release", word)) == 1
    assert OutboxItem.objects.exclude(state=OutboxState.SENT).count() == 0
    integration.refresh_from_db()
    assert integration.first_sent_at is not None


def test_a_release_which_has_no_formatted_id_in_rally_is_named_by_its_type_and_object_id(
    client, cast, rally_sandbox, integration
):
    """Rally gives a release no FormattedID: its history line and its record menu name it
    "Release <ObjectID>", not an empty space ("Created in Rally:  in Rally")."""
    release = dated_release(cast)
    feature = make_feature(cast.workspace, release=release, name=f"Rollout {token()}")
    send(feature, integration, cast)

    link = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk)
    assert link.formatted_id == ""
    assert link.label == f"Release {link.rally_oid}"
    created = Activity.objects.get(
        record_type=RecordType.RELEASE, record_id=release.pk, action=ActivityAction.CREATED
    )
    assert created.detail == f"Release {link.rally_oid} in Rally"

    client.force_login(cast.contributor)
    page = client.get(
        reverse("sync:record_menu", args=[cast.workspace.prefix, RecordType.RELEASE, release.pk]),
        follow=True,  # to the release's page, which holds its Integrations menu
    )
    assert page.status_code == 200
    assert f"View Release {link.rally_oid} in Rally" in page.content.decode()


def test_an_edit_of_a_linked_feature_goes_out_as_one_update(cast, rally_sandbox, integration):
    word = token()
    feature = make_feature(cast.workspace, name=f"Search {word}")
    send(feature, integration, cast)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)

    update_record(feature, changes={"name": f"Search v2 {word}"}, user=cast.contributor)
    update_record(feature, changes={"description": "<p>Scope</p>"}, user=cast.contributor)
    rows = OutboxItem.objects.filter(record_id=feature.pk, state=OutboxState.QUEUED)
    assert rows.count() == 1
    assert sorted(rows.get().fields) == ["description", "name"]
    drain_outbox(integration.pk)

    with sandbox_client(rally_sandbox) as client:
        rally_feature = client.read(
            f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name", "Description"]
        )
    assert rally_feature["Name"] == f"Search v2 {word}"
    assert rally_feature["Description"] == "<p>Scope</p>"
    link.refresh_from_db()
    assert link.baseline["name"] == f"Search v2 {word}"


def test_a_created_feature_takes_its_tags_and_they_are_its_baseline(
    cast, rally_sandbox, integration
):
    from aharally.records.models import Tag

    word = token()
    feature = make_feature(cast.workspace, name=f"Tagged {word}")
    tags = [Tag.objects.create(workspace=cast.workspace, name=f"{name}-{word}") for name in "ba"]
    feature.tags.set(tags)
    untagged = make_feature(cast.workspace, name=f"Untagged {word}")

    for record in (feature, untagged):
        outbox.request_send(record=record, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)

    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert link.baseline["tags"] == [f"a-{word}", f"b-{word}"]
    assert Link.objects.get(record_id=untagged.pk, record_type="feature").baseline["tags"] == []
    with sandbox_client(rally_sandbox) as client:
        rally_feature = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Tags"])
    assert sorted(t["Name"] for t in rally_feature["Tags"]["_tagsNameArray"]) == [
        f"a-{word}",
        f"b-{word}",
    ]


def test_a_move_on_the_board_ranks_the_rally_feature_beside_its_neighbour_without_a_warning(
    cast, rally_sandbox, integration
):
    release = dated_release(cast)
    first = make_feature(cast.workspace, release=release, name=f"First {token()}")
    second = make_feature(cast.workspace, release=release, name=f"Second {token()}")
    for feature in (first, second):
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    links = {f.pk: Link.objects.get(record_type="feature", record_id=f.pk) for f in (first, second)}

    def rally_ranks():
        with sandbox_client(rally_sandbox) as client:
            return [
                client.read(
                    f"/portfolioitem/feature/{links[f.pk].rally_oid}", fetch=["DragAndDropRank"]
                )["DragAndDropRank"]
                for f in (first, second)
            ]

    # Second goes above first on the board: in Rally, rankAbove first.
    update_record(second, changes={"rank": first.rank - 1}, user=cast.contributor)
    drain_outbox(integration.pk)
    first_rank, second_rank = rally_ranks()
    assert second_rank < first_rank
    # And back below it: rankBelow first.
    update_record(second, changes={"rank": first.rank + 1}, user=cast.contributor)
    drain_outbox(integration.pk)
    first_rank, second_rank = rally_ranks()
    assert second_rank > first_rank
    assert OutboxItem.objects.exclude(state=OutboxState.SENT).count() == 0
    assert not IntegrationLogEntry.objects.filter(
        integration=integration, level="warning"
    ).exists(), list(IntegrationLogEntry.objects.values_list("message", flat=True))


def test_a_feature_sent_alone_takes_its_place_beside_its_sibling_in_rally(
    cast, rally_sandbox, integration
):
    release = dated_release(cast)
    later = make_feature(cast.workspace, release=release, name=f"Later {token()}")
    send(later, integration, cast)
    # Ranked above it on the board, sent afterwards: created rankAbove it in Rally.
    first = make_feature(cast.workspace, release=release, name=f"First {token()}")
    update_record(first, changes={"rank": later.rank - 1}, user=cast.contributor)
    send(first, integration, cast)

    oids = [
        Link.objects.get(record_id=f.pk, record_type="feature").rally_oid for f in (first, later)
    ]
    with sandbox_client(rally_sandbox) as client:
        ranks = [
            client.read(f"/portfolioitem/feature/{oid}", fetch=["DragAndDropRank"])[
                "DragAndDropRank"
            ]
            for oid in oids
        ]
    assert ranks[0] < ranks[1]


def test_a_bulk_send_leaves_rally_in_the_boards_order_moving_only_what_is_out_of_it(
    cast, rally_sandbox, integration
):
    from aharally.sync.web.jobs import start_job

    release = dated_release(cast)
    top = make_feature(cast.workspace, release=release, name=f"Top {token()}")
    send(top, integration, cast)
    # Eight more, each ranked above the one before it: the board's order is the reverse of
    # the order they are queued (and go out) in, all under the feature already in Rally.
    features = [
        make_feature(cast.workspace, release=release, name=f"Bulk {n} {token()}") for n in range(8)
    ]
    for n, feature in enumerate(features):
        update_record(feature, changes={"rank": top.rank + 100 - n}, user=cast.contributor)
    board = [top, *reversed(features)]
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
    drain_outbox(integration.pk)
    # The drain queued their placing as a task of its own.
    placed = run_queued(PLACE_IN_RANK)

    oids = {
        link.record_id: link.rally_oid
        for link in Link.objects.filter(
            record_type=RecordType.FEATURE, record_id__in=[f.pk for f in board]
        )
    }
    in_board_order = [oids[f.pk] for f in board]
    assert rally_order(rally_sandbox, "PortfolioItem/Feature", in_board_order) == in_board_order
    # Only those out of order moved: Rally made them in the order of their ObjectIDs, at
    # the bottom, so the longest run of the board's order that is also in ObjectID order
    # stays; each other one is one request.
    longest = [1] * len(in_board_order)
    for i, oid in enumerate(in_board_order):
        for j in range(i):
            if in_board_order[j] < oid:
                longest[i] = max(longest[i], longest[j] + 1)
    assert placed == [{"moved": len(board) - max(longest)}]
    assert not IntegrationLogEntry.objects.filter(
        integration=integration, level="warning"
    ).exists(), list(IntegrationLogEntry.objects.values_list("message", flat=True))


def test_a_features_requirements_sent_with_it_keep_their_order_in_rally(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Ordered {token()}")
    requirements = [make_requirement(feature, name=f"Step {n} {token()}") for n in range(6)]
    for n, requirement in enumerate(requirements):
        update_record(requirement, changes={"rank": 100 - n}, user=cast.contributor)
    send(feature, integration, cast)
    run_queued(PLACE_IN_RANK)

    oids = {
        link.record_id: link.rally_oid
        for link in Link.objects.filter(
            record_type=RecordType.REQUIREMENT, record_id__in=[r.pk for r in requirements]
        )
    }
    in_order = [oids[r.pk] for r in reversed(requirements)]
    assert rally_order(rally_sandbox, "HierarchicalRequirement", in_order) == in_order


@pytest.mark.parametrize(
    "arguments",
    [
        ("1", [["feature", 1]]),
        (1, "feature 1"),
        (1, [["epic", 1]]),
        (1, [["feature", -3]]),
        (1, [["feature"]]),
    ],
)
def test_placing_in_rank_refuses_bad_task_arguments_with_a_clear_log_line(arguments, caplog):
    from aharally.sync.tasks import place_in_rank

    assert place_in_rank(*arguments) == {"moved": 0, "reason": "bad argument"}
    assert "place_in_rank needs an integration id and [record type, id] pairs" in caplog.text
