"""/readyz against a real task cluster and the real sandbox: a stopped or killed cluster and
an integration whose credential Rally refused each turn it to 503, with the reason."""

from __future__ import annotations

import json
import time

import pytest

from aharally.integrations.models import Integration
from aharally.sync.web.jobs import start_job
from tests.factories import make_feature
from tests.sync.cluster import TaskCluster
from tests.sync.support import connect, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

BEAT = {"CLUSTER_HEARTBEAT_SECONDS": "1"}
STALE_SECONDS = 4


@pytest.fixture(autouse=True)
def _short_stale_limit(settings):
    settings.CLUSTER_HEARTBEAT_STALE_SECONDS = STALE_SECONDS


def _cluster_check(client):
    response = client.get("/readyz?check=cluster")
    return response.status_code, json.loads(response.content)["checks"]["cluster"]


def test_readyz_sees_a_running_cluster_and_a_stopped_one_at_once(client):
    assert _cluster_check(client)[0] == 503
    cluster = TaskCluster(env=BEAT).start()
    try:
        wait_until(lambda: _cluster_check(client)[0] == 200, timeout=60, what="cluster ready")
        assert _cluster_check(client)[1] == {"ok": True, "clusters": 1}
    finally:
        cluster.stop()
    # A graceful stop removes the heartbeat: no waiting for it to go stale.
    status, check = _cluster_check(client)
    assert status == 503
    assert "no task cluster has reported" in check["reason"]


def test_readyz_sees_a_killed_cluster_within_the_stale_limit(client):
    cluster = TaskCluster(env=BEAT).start()
    try:
        wait_until(lambda: _cluster_check(client)[0] == 200, timeout=60, what="cluster ready")
    finally:
        cluster.kill()
    killed_at = time.monotonic()
    assert _cluster_check(client)[0] == 200  # the row is still there, fresh
    wait_until(
        lambda: _cluster_check(client)[0] == 503,
        timeout=STALE_SECONDS + 3,
        interval=0.2,
        what="killed cluster noticed",
    )
    assert time.monotonic() - killed_at <= STALE_SECONDS + 3


def test_readyz_names_an_integration_whose_credential_rally_refused(
    client, cast, rally_sandbox, task_cluster
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    healthy = connect(cast.workspace, rally_sandbox, owner=cast.owner, name="Healthy")
    # As if the key was revoked in Rally.
    integration.api_key = "_RevokedKey" + "0" * 30
    integration.save()
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} {n}") for n in range(3)]
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")

    wait_until(
        lambda: Integration.objects.get(pk=integration.pk).needs_reauthorization,
        timeout=60,
        what="the cluster's drain to meet the refusal",
    )
    response = client.get("/readyz")
    body = json.loads(response.content)

    assert response.status_code == 503
    assert body["checks"]["integrations"]["failing"] == [
        {
            "id": integration.pk,
            "reason": "needs_reauthorization",
            "message": body["checks"]["integrations"]["failing"][0]["message"],
        }
    ]
    assert healthy.pk not in [f["id"] for f in body["checks"]["integrations"]["failing"]]
    assert "_RevokedKey" not in response.content.decode()
    assert rally_sandbox.api_key not in response.content.decode()
