"""The cap of 12 requests in flight holds across a cluster's worker processes, as `make run`
starts it (one cluster, two workers, SQLite or PostgreSQL): a catch-up and a webhook
registration in one worker while the other drains a bulk send. Each worker process has its
own client semaphore; only the shared slots keep the credential at 12 (it was once 13)."""

from __future__ import annotations

import pytest
from django_q.tasks import async_task

from aharally.sync.enqueue import PULL, REGISTER_WEBHOOK
from aharally.sync.models import Link
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from rally_sandbox.faults.registry import credential_label
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = 120


def test_a_catch_up_beside_a_drain_in_another_worker_never_makes_it_13(
    cast, rally_sandbox, faults, task_cluster
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} feature {n}") for n in range(FEATURES)]
    faults({"kind": "latency", "ms": 30})
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
    ids = [f.pk for f in features]

    def sent_meanwhile_asking_for_more() -> bool:
        linked = Link.objects.filter(record_type=RecordType.FEATURE, record_id__in=ids).count()
        if linked >= FEATURES:
            return True
        async_task(PULL, integration.pk)
        async_task(REGISTER_WEBHOOK, integration.pk)
        return False

    wait_until(sent_meanwhile_asking_for_more, timeout=180, interval=0.5, what="the send's end")

    stats = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()
    peak = stats["max_concurrent"][credential_label(zsessionid=rally_sandbox.api_key)]
    assert 0 < peak <= 12, stats
    assert "aharally.sync.tasks.pull_updates" in task_cluster.log()
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == FEATURES
