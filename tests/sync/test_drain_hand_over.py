"""A bulk send longer than a drain's budget goes on in the drain's successor, which carries
what the first one created to place it in Rally's rank once, when the send is all in: placed
at the hand-over, a long send's first objects were read and moved while the send went on,
the task taking the worker the successor needed."""

from __future__ import annotations

import pytest
from django_q.models import OrmQ

from aharally.records.services import update_record
from aharally.sync.enqueue import DRAIN, PLACE_IN_RANK
from aharally.sync.leases import Lease
from aharally.sync.models import DrainLease, Link
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, rally_order, run_queued, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _queued(func: str) -> list[list]:
    return [list(row.task["args"]) for row in OrmQ.objects.order_by("id") if row.func() == func]


def test_a_send_past_the_drains_budget_is_placed_in_rank_once_when_all_is_in(
    cast, rally_sandbox, integration, faults, settings
):
    settings.SYNC_DRAIN_BUDGET_SECONDS = 1
    faults(kind="latency", ms=400)  # the first drain can't send them all within its budget
    features = [make_feature(cast.workspace, name=f"Long {n} {token()}") for n in range(24)]
    for n, feature in enumerate(features):  # the board's order: the reverse of the queue's
        update_record(feature, changes={"rank": 1000 - n}, user=cast.contributor)
    start_job(records=features, integration=integration, user=cast.contributor, label="long")
    OrmQ.objects.all().delete()  # the job's drain: run here instead

    drain_outbox(integration.pk)

    linked = Link.objects.filter(record_type=RecordType.FEATURE).count()
    assert 0 < linked < len(features)
    assert _queued(PLACE_IN_RANK) == []
    ((successor,),) = [args[1:] for args in _queued(DRAIN)]
    assert sorted(pk for _, pk in successor) == sorted(
        Link.objects.filter(record_type=RecordType.FEATURE).values_list("record_id", flat=True)
    )
    for _ in range(10):  # each successor sends for its second and hands over
        if not run_queued(DRAIN):
            break
    assert Link.objects.filter(record_type=RecordType.FEATURE).count() == len(features)

    ((placed_integration, placed),) = _queued(PLACE_IN_RANK)
    assert placed_integration == integration.pk
    assert sorted(pk for _, pk in placed) == sorted(f.pk for f in features)
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")  # placed at the sandbox's pace
    run_queued(PLACE_IN_RANK)
    oids = dict(Link.objects.values_list("record_id", "rally_oid"))
    board = [oids[f.pk] for f in reversed(features)]
    assert rally_order(rally_sandbox, "PortfolioItem/Feature", board) == board


def test_what_a_drain_was_given_to_place_is_placed_when_it_cannot_go_on(cast, integration):
    feature = make_feature(cast.workspace, name=f"Given {token()}")
    carried = [["feature", feature.pk]]

    # Nothing left to send: placed now.
    drain_outbox(integration.pk, unplaced=carried)
    assert _queued(PLACE_IN_RANK) == [[integration.pk, carried]]

    # Another drain holds the lease: placed now (that drain places its own).
    OrmQ.objects.all().delete()
    assert Lease(DrainLease, integration.pk).take()
    assert drain_outbox(integration.pk, unplaced=carried)["reason"] == (
        "another drain holds the lease"
    )
    assert _queued(PLACE_IN_RANK) == [[integration.pk, carried]]


@pytest.mark.parametrize("unplaced", ["feature 1", [["epic", 1]], [["feature", -3]], [["feature"]]])
def test_a_drain_given_bad_records_to_place_says_so_and_still_sends(
    cast, integration, unplaced, caplog
):
    from aharally.sync.tasks import drain_outbox as drain_task

    assert drain_task(integration.pk, unplaced)["sent"] == 0  # nothing queued: nothing sent
    assert "drain_outbox's records to place need [record type, id] pairs" in caplog.text
    assert _queued(PLACE_IN_RANK) == []
