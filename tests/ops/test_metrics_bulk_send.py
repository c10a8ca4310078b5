"""The issue's acceptance: /metrics shows the counters moving during a bulk send (a real task
cluster sending to the real sandbox; its processes' instruments read through METRICS_DIR)."""

from __future__ import annotations

import pytest

from aharally.sync.models import Link
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.ops.metrics_support import TOKEN, scrape, value
from tests.sync.cluster import TaskCluster
from tests.sync.support import connect, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

COUNT = 12


def test_metrics_show_the_counters_moving_during_a_bulk_send(
    client, cast, rally_sandbox, settings, tmp_path, faults
):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_DIR = str(tmp_path)
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    i = integration.pk
    features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(COUNT)]
    # Two creates answered 503: retried, and counted as transient failures.
    faults({"kind": "status", "status": 503, "count": 2, "match": {"path_contains": "create"}})
    before = scrape(client)

    cluster = TaskCluster(env={"METRICS_DIR": str(tmp_path)}).start()
    try:
        start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
        wait_until(
            lambda: (
                Link.objects.filter(
                    record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
                ).count()
                == COUNT
            ),
            timeout=120,
            what=f"{COUNT} links",
        )
        during = scrape(client)
    finally:
        cluster.stop()

    def moved(name, **labels):
        return value(during, name, **labels) - value(before, name, **labels)

    assert moved("aharally_sync_sends_total", integration=i, action="created") == COUNT
    assert moved("aharally_outbox_items", integration=i, state="sent") == COUNT
    assert moved("aharally_sync_attempt_failures_total", integration=i, error_kind="transient") == 2
    # Every create, plus the drain's look-ups, timed in the cluster's worker processes.
    assert moved("aharally_rally_request_duration_seconds_count", method="POST") >= COUNT + 2
    assert moved("aharally_rally_request_duration_seconds_count", status="503") == 2
    assert moved("aharally_rally_request_duration_seconds_sum") > 0
    assert value(during, "aharally_outbox_items", integration=i, state="queued") == 0
