"""Four task clusters (real `qcluster` processes) on one PostgreSQL database share a bulk send:
each feature reaches Rally exactly once, none is lost, and the credential never has more than
12 requests in flight at Rally, though catch-ups and webhook registrations for the same
credential run in the other clusters' workers meanwhile. Once with the database as broker,
once with Redis (scripts/with-redis)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_q.tasks import async_task

from aharally.sync.enqueue import PULL, REGISTER_WEBHOOK
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from rally_sandbox.faults.registry import credential_label
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.long_running,
]

FEATURES = 300
CLUSTERS = 4
# A short budget hands the drain from task to task, so the clusters take turns at it: the
# send lasts several budgets (300 creates at LATENCY_MS, 12 at a time: about 5 s).
CLUSTER_OPTIONS = {"env": {"SYNC_DRAIN_BUDGET_SECONDS": "1"}}
LATENCY_MS = 200


def _linked(features) -> int:
    return Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
    ).count()


def _bulk_send_across_clusters(cast, rally_sandbox, faults, clusters) -> None:
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} feature {n}") for n in range(FEATURES)]
    # Each request takes a while at Rally, so that requests overlap as they do there.
    faults({"kind": "latency", "ms": LATENCY_MS})
    running = clusters(CLUSTERS, **CLUSTER_OPTIONS)
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")

    # Meanwhile, in whichever workers are free: catch-ups and webhook registrations, the
    # same credential's other requests (what once made it 13 in flight).
    def linked_meanwhile_asking_for_more() -> bool:
        if _linked(features) >= FEATURES:
            return True
        async_task(PULL, integration.pk)
        async_task(REGISTER_WEBHOOK, integration.pk)
        return False

    wait_until(
        linked_meanwhile_asking_for_more,
        timeout=200,
        interval=0.5,
        what=lambda: f"every link (only {_linked(features)} of {FEATURES} linked)",
    )

    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    assert sorted(item["Name"] for item in held) == sorted(f.name for f in features)
    links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
    )
    assert sorted(link.rally_oid for link in links) == sorted(item.object_id for item in held)
    assert set(OutboxItem.objects.values_list("state", flat=True)) == {OutboxState.SENT}

    stats = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()
    peak = stats["max_concurrent"][credential_label(zsessionid=rally_sandbox.api_key)]
    assert 0 < peak <= 12, stats
    # The work was shared: drains ran in more than one cluster, catch-ups alongside.
    drained_in = [c for c in running if "aharally.sync.tasks.drain_outbox" in c.log()]
    assert len(drained_in) >= 2, [c.log()[-2000:] for c in running]
    pulled_in = [c for c in running if "aharally.sync.tasks.pull_updates" in c.log()]
    assert pulled_in


def test_four_clusters_on_the_database_broker_send_each_feature_once_within_12_in_flight(
    on_postgresql, cast, rally_sandbox, faults, clusters
):
    assert settings.Q_CLUSTER.get("orm") == "default" and "redis" not in settings.Q_CLUSTER
    _bulk_send_across_clusters(cast, rally_sandbox, faults, clusters)


@pytest.mark.redis
def test_four_clusters_on_the_redis_broker_send_each_feature_once_within_12_in_flight(
    on_postgresql, cast, rally_sandbox, faults, clusters
):
    assert settings.REDIS_URL, "run under scripts/with-redis"
    assert settings.Q_CLUSTER.get("redis") == settings.REDIS_URL and "orm" not in settings.Q_CLUSTER
    _bulk_send_across_clusters(cast, rally_sandbox, faults, clusters)
