"""/healthz answers without the database; /readyz names what is not ready, and nothing more."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from aharally.integrations.log import record_failure, record_success
from aharally.integrations.models import IntegrationState
from aharally.ops.heartbeat import beat, forget
from aharally.ops.models import ClusterHeartbeat
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db


def _ready(client, query=""):
    response = client.get("/readyz" + query)
    return response.status_code, json.loads(response.content)


def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_probes_answer_on_any_host_over_http_behind_the_tls_proxy(client, settings):
    # A container's healthcheck calls 127.0.0.1 over http; the site itself redirects to https.
    settings.ALLOWED_HOSTS = ["aharally.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7:8000").status_code in (200, 503)
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_readyz_is_ready_with_a_live_cluster_and_healthy_integrations(client, cast):
    configured_integration(cast.workspace)
    beat("test-cluster")
    status, body = _ready(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["cluster"] == {"ok": True, "clusters": 1}
    assert body["checks"]["integrations"]["ok"] is True


def test_readyz_reports_no_cluster_when_no_heartbeat_is_recent(client, settings):
    settings.CLUSTER_HEARTBEAT_STALE_SECONDS = 30
    ClusterHeartbeat.objects.create(
        cluster="killed", host="h", pid=1, started_at=Now(), beat_at=timezone.now()
    )
    ClusterHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=31))
    status, body = _ready(client)
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["cluster"]["ok"] is False
    assert (
        "no task cluster has reported in the last 30 seconds" in body["checks"]["cluster"]["reason"]
    )


def test_a_stopped_cluster_forgets_its_heartbeat_at_once(client):
    beat("stopping")
    assert _ready(client, "?check=cluster")[0] == 200
    forget("stopping")
    assert _ready(client, "?check=cluster")[0] == 503


def test_readyz_names_an_integration_that_needs_reauthorization_by_id_only(client, cast):
    beat("c")
    integration = configured_integration(cast.workspace, name="Secret project name")
    integration.needs_reauthorization = True
    integration.save()

    response = client.get("/readyz")
    body = json.loads(response.content)

    assert response.status_code == 503
    check = body["checks"]["integrations"]
    assert check["failing"] == [
        {
            "id": integration.pk,
            "reason": "needs_reauthorization",
            "message": check["failing"][0]["message"],
        }
    ]
    assert "authorize it again" in check["failing"][0]["message"]
    assert str(integration.pk) in check["reason"]
    assert b"Secret project name" not in response.content
    assert b"oauth-access-token" not in response.content


def test_readyz_names_a_failing_integration_until_a_call_succeeds(client, cast):
    beat("c")
    integration = configured_integration(cast.workspace)
    record_failure(integration, "Rally said no to PLAT-12 with key _abc")
    status, body = _ready(client, "?check=integrations")
    assert status == 503
    assert body["checks"]["integrations"]["failing"][0]["reason"] == "failing"
    assert "PLAT-12" not in json.dumps(body)

    record_success(integration)
    assert _ready(client, "?check=integrations")[0] == 200


def test_disabled_and_draft_integrations_do_not_count(client, cast):
    beat("c")
    integration = configured_integration(cast.workspace)
    integration.needs_reauthorization = True
    integration.state = IntegrationState.DISABLED
    integration.save()
    assert _ready(client)[0] == 200


def test_readyz_limits_itself_to_the_checks_asked_and_refuses_unknown_ones(client):
    status, body = _ready(client, "?check=database")
    assert status == 200
    assert set(body["checks"]) == {"database"}
    assert client.get("/readyz?check=everything").status_code == 400
    assert client.post("/readyz").status_code == 405


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(client):
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"})
    assert kept["X-Request-ID"] == "lb-1234.abc"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\n<script>"})
    assert replaced["X-Request-ID"] != "bad id\n<script>"
    assert len(replaced["X-Request-ID"]) == 32


def test_readyz_reports_a_cluster_that_takes_no_task_while_tasks_wait(client, settings):
    settings.CLUSTER_STALL_SECONDS = 20
    beat("stuck", progress_age=30, waiting=3)
    status, body = _ready(client, "?check=cluster")
    assert status == 503
    check = body["checks"]["cluster"]
    assert check["ok"] is False
    assert "no task cluster has taken one for more than 20 seconds" in check["reason"]
    assert (check["clusters"], check["stalled"], check["waiting"]) == (1, 1, 3)


def test_readyz_is_ready_while_one_cluster_of_two_makes_progress(client, settings):
    settings.CLUSTER_STALL_SECONDS = 20
    beat("stuck", progress_age=30, waiting=3)
    beat("working", progress_age=10, waiting=3)
    status, body = _ready(client, "?check=cluster")
    assert (status, body["checks"]["cluster"]) == (200, {"ok": True, "clusters": 2})
