"""Rows a dead worker left in flight go back to the queue, even when the record changed
meanwhile (its change waits in a newer open row: one record has one open row)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aharally.records.services import update_record
from aharally.sync.models import Link, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)


def _left_in_flight_by_a_dead_worker(row: OutboxItem) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    OutboxItem.objects.filter(pk=row.pk).update(
        state=OutboxState.IN_FLIGHT, claim_token="dead", claimed_at=long_ago
    )


def test_a_row_left_in_flight_joins_the_open_row_of_a_later_change(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Stuck {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    update_record(feature, changes={"description": "<p>Left in flight</p>"}, user=cast.owner)
    stuck = OutboxItem.objects.get(record_id=feature.pk, kind=OutboxKind.UPDATE)
    _left_in_flight_by_a_dead_worker(stuck)
    update_record(feature, changes={"name": f"Renamed {word}"}, user=cast.owner)

    assert outbox.reclaim_stuck() == 1

    waiting = OutboxItem.objects.filter(record_id=feature.pk).exclude(state=OutboxState.SENT)
    assert waiting.count() == 1
    assert set(waiting.get().fields) >= {"name", "description"}
    drain_outbox(integration.pk)
    held = rally_objects(
        rally_sandbox, "PortfolioItem/Feature", word, fetch=["Name", "Description"]
    )
    assert [(item["Name"], item["Description"]) for item in held] == [
        (f"Renamed {word}", "<p>Left in flight</p>")
    ]


def test_a_create_left_in_flight_looks_in_rally_first_with_the_change_made_meanwhile(
    cast, rally_sandbox, faults, settings
):
    settings.SYNC_BASE_BACKOFF_SECONDS = 60  # the retry waits: the worker dies first
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Made {word}")
    # The create reaches Rally; its worker dies before it hears back.
    faults(
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "portfolioitem/feature"},
            "count": 1,
        }
    )
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    create = OutboxItem.objects.get(record_id=feature.pk, kind=OutboxKind.CREATE)
    assert create.look_before_send
    _left_in_flight_by_a_dead_worker(create)
    update_record(feature, changes={"name": f"Made and renamed {word}"}, user=cast.owner)

    assert outbox.reclaim_stuck() == 1

    OutboxItem.objects.filter(state=OutboxState.QUEUED).update(not_before=None)
    drain_outbox(integration.pk)
    OutboxItem.objects.filter(state=OutboxState.QUEUED).update(not_before=None)
    drain_outbox(integration.pk)
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word, fetch=["Name"])
    assert [item["Name"] for item in held] == [f"Made and renamed {word}"], "made twice?"
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert link.rally_oid == held[0].object_id
    assert not OutboxItem.objects.filter(record_id=feature.pk).exclude(state=OutboxState.SENT)


def test_a_parent_whose_rally_object_was_deleted_is_made_again_once_for_its_next_child(
    cast, rally_sandbox
):
    """Found by the 30-minute soak: the parent's new link collided with its broken one, the
    send failed after Rally had made the object, and each retry made another."""
    from aharally.records.services import create_initiative
    from aharally.sync.models import LinkState
    from tests.sync.support import sandbox_client

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    initiative = create_initiative(workspace=cast.workspace, name=f"Parent {word}")
    first = make_feature(cast.workspace, name=f"First {word}", initiative=initiative)
    outbox.request_send(record=first, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    with sandbox_client(rally_sandbox) as client:
        client.delete(f"/portfolioitem/initiative/{link.rally_oid}")
    update_record(initiative, changes={"name": f"Parent renamed {word}"}, user=cast.owner)
    drain_outbox(integration.pk)  # the update finds the object gone: the link breaks
    assert Link.objects.get(pk=link.pk).state == LinkState.BROKEN

    second = make_feature(cast.workspace, name=f"Second {word}", initiative=initiative)
    outbox.request_send(record=second, integration=integration, user=cast.contributor)
    for _ in range(3):
        OutboxItem.objects.filter(state=OutboxState.QUEUED).update(not_before=None)
        drain_outbox(integration.pk)

    held = rally_objects(rally_sandbox, "PortfolioItem/Initiative", word, fetch=["Name"])
    assert [item["Name"] for item in held] == [f"Parent renamed {word}"], "made more than once"
    relinked = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    assert (relinked.state, relinked.rally_oid) == (LinkState.OK, held[0].object_id)
