"""A cluster asked to stop (SIGTERM, as honcho, Docker and systemd ask) in the middle of a bulk
send: its drain stops claiming, gives back the rows it claimed and had not started, finishes
the ones it was sending, and the cluster exits by itself. Nothing is left in flight, and a new
cluster finishes the send with each feature in Rally once."""

from __future__ import annotations

import pytest

from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.cluster import TaskCluster
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = 200


def _linked(features) -> int:
    return Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
    ).count()


def test_a_cluster_stopped_mid_send_leaves_nothing_in_flight_and_a_new_one_finishes_it(
    cast, rally_sandbox, faults
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} feature {n}") for n in range(FEATURES)]
    faults({"kind": "latency", "ms": 40})  # so the stop lands in the middle of the send
    # A drain budget longer than the whole send: only the stop flag can end it early.
    first = TaskCluster(env={"SYNC_DRAIN_BUDGET_SECONDS": "110"}, name="stopped").start()
    try:
        start_job(records=features, integration=integration, user=cast.contributor, label="b")
        wait_until(lambda: _linked(features) >= 30, timeout=90, what="the send under way")
    finally:
        # Well within honcho's 5 s, though a drain with 24 rows claimed was running.
        stopped_by_itself = first.stop(within=5)

    assert stopped_by_itself, first.log()[-3000:]
    assert "has stopped" in first.log()
    linked_at_stop = _linked(features)
    assert linked_at_stop < FEATURES, "the stop came too late to prove anything"
    # At once, not after the claim timeout: what it claimed went back or was finished.
    assert not OutboxItem.objects.filter(state=OutboxState.IN_FLIGHT).exists()
    assert OutboxItem.objects.filter(state=OutboxState.QUEUED, error_kind="").count() == (
        FEATURES - linked_at_stop
    )

    second = TaskCluster(name="after").start()
    try:
        wait_until(lambda: _linked(features) == FEATURES, timeout=180, what="every link")
    finally:
        second.stop()
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    assert sorted(item["Name"] for item in held) == sorted(f.name for f in features)
