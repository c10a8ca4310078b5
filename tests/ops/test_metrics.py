"""/metrics: behind a bearer token, counting the sync's state from the database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from aharally.observability import instruments
from aharally.ops.heartbeat import beat
from aharally.sync.models import (
    Activity,
    ActivityAction,
    IncomingEvent,
    OutboxItem,
    OutboxState,
    PullCursor,
)
from aharally.workspaces.models import RecordType
from tests.integrations.builders import configured_integration
from tests.ops.metrics_support import TOKEN, scrape, value
from tests.sandbox import free_port
from tests.waiting import wait_for_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_are_not_found_without_a_configured_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_want_the_token(client, token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    wrong_length = "Bearer " + TOKEN + "x"
    assert client.get("/metrics", headers={"Authorization": wrong_length}).status_code == 403
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")


def _row(integration, state, number, **fields):
    return OutboxItem.objects.create(
        integration=integration,
        record_type=RecordType.FEATURE,
        record_id=number,
        kind="create",
        state=state,
        **fields,
    )


def test_outbox_depth_sends_and_failures_come_from_the_database(client, cast, token):
    integration = configured_integration(cast.workspace)
    for number in range(3):
        _row(integration, OutboxState.SENT, number)
    _row(integration, OutboxState.QUEUED, 10, error_kind="transient")
    _row(integration, OutboxState.FAILED, 11, error_kind="validation")
    _row(integration, OutboxState.AWAITING_APPROVAL, 12)
    for action in (ActivityAction.CREATED, ActivityAction.CREATED, ActivityAction.UPDATED):
        Activity.objects.create(
            integration=integration, record_type="feature", record_id=1, action=action
        )
    Activity.objects.create(
        integration=integration, record_type="feature", record_id=11, action="failed"
    )

    samples = scrape(client)

    i = integration.pk
    assert value(samples, "aharally_outbox_items", integration=i, state="sent") == 3
    assert value(samples, "aharally_outbox_items", integration=i, state="queued") == 1
    assert value(samples, "aharally_outbox_items", integration=i, state="awaiting_approval") == 1
    assert value(samples, "aharally_outbox_errored_items", error_kind="transient") == 1
    assert value(samples, "aharally_outbox_errored_items", error_kind="validation") == 1
    assert value(samples, "aharally_sync_sends_total", integration=i, action="created") == 2
    assert value(samples, "aharally_sync_sends_total", integration=i, action="updated") == 1
    assert value(samples, "aharally_sync_failures_total", integration=i) == 1


def test_webhook_and_catch_up_lag_are_ages_from_the_database(client, cast, token):
    integration = configured_integration(cast.workspace)
    waiting = IncomingEvent.objects.create(
        integration=integration, message_id="m1", action="Updated"
    )
    done = IncomingEvent.objects.create(integration=integration, message_id="m2", action="Updated")
    now = timezone.now()
    IncomingEvent.objects.filter(pk=waiting.pk).update(received_at=now - timedelta(seconds=120))
    IncomingEvent.objects.filter(pk=done.pk).update(
        received_at=now - timedelta(seconds=10), processed_at=now - timedelta(seconds=7)
    )
    PullCursor.objects.create(integration=integration, last_pulled_at=now - timedelta(seconds=90))
    beat("one")

    samples = scrape(client)

    i = integration.pk
    assert 119 <= value(samples, "aharally_webhook_oldest_unprocessed_seconds", integration=i) < 130
    assert value(samples, "aharally_webhook_last_lag_seconds", integration=i) == pytest.approx(3)
    assert 89 <= value(samples, "aharally_catch_up_age_seconds", integration=i) < 100
    assert value(samples, "aharally_task_clusters") == 1


def test_a_cluster_that_takes_no_task_while_tasks_wait_counts_as_stuck(client, token, settings):
    settings.CLUSTER_STALL_SECONDS = 20
    beat("stuck", progress_age=45, waiting=4)
    beat("well", progress_age=5, waiting=4)
    samples = scrape(client)
    assert value(samples, "aharally_task_clusters") == 2
    assert value(samples, "aharally_task_clusters_stuck") == 1


def test_this_process_instruments_show_without_a_metrics_dir(client, token, settings):
    settings.METRICS_DIR = ""
    before = value(scrape(client), "aharally_sync_attempt_failures_total", error_kind="throttled")
    instruments.count_failure(integration_id=999, kind="throttled")
    instruments.observe_rally_request("GET", "200", 0.2)
    samples = scrape(client)
    assert value(samples, "aharally_sync_attempt_failures_total", error_kind="throttled") == (
        before + 1
    )
    assert value(samples, "aharally_rally_request_duration_seconds_count", method="GET") >= 1


def test_serve_metrics_serves_this_machines_process_files_to_the_token_only(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "METRICS_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # A "worker" on this machine records one Rally request into METRICS_DIR.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from aharally.observability import instruments; "
            "instruments.observe_rally_request('POST', '201', 0.3)",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "aharally.settings"},
        check=True,
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve_metrics", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        anonymous = wait_for_server(url, server, timeout=30)
        assert anonymous.status_code == 401
        wrong = requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5)
        assert wrong.status_code == 403
        right = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert right.status_code == 200
        assert (
            'aharally_rally_request_duration_seconds_count{method="POST",status="201"} 1.0'
            in right.text
        )
        assert "aharally_outbox_items" not in right.text  # the database's view is the web's
    finally:
        server.terminate()
        server.wait(timeout=10)
