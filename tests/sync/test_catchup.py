"""Catch-ups on request: deliveries coalesce, so they never hold back the drains and the tick."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from django_q.models import OrmQ, Task

from aharally.sync.enqueue import PROCESS_EVENT, PULL
from aharally.sync.incoming import catchup
from aharally.sync.incoming.catchup import BUSY, request_catch_up, run_catch_up
from aharally.sync.models import (
    IncomingEvent,
    Link,
    PullCursor,
    WebhookRegistration,
    WebhookState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CATCH_UP_TASKS = {PULL, PROCESS_EVENT}


def catch_ups_in_the_queue() -> int:
    """Catch-up tasks waiting in the broker or running (a finished one's row stays until the
    cluster's monitor acknowledges it: its result is saved first)."""
    held = {row.task_id() for row in OrmQ.objects.all() if row.func() in CATCH_UP_TASKS}
    return len(held - set(Task.objects.filter(id__in=held).values_list("id", flat=True)))


def catch_ups_run() -> int:
    """Catch-ups that read Rally (one that found another running only asked it to run again)."""
    return sum(
        1
        for task in Task.objects.filter(func__in=CATCH_UP_TASKS)
        if not (isinstance(task.result, dict) and task.result.get("reason") == BUSY)
    )


def _linked(cast, integration, name):
    feature = make_feature(cast.workspace, name=f"{name} {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    return wait_until(
        lambda: Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).first(),
        timeout=60,
        what=f"{feature.reference} linked",
    )


def _delivery(object_id: int) -> dict:
    return {
        "message": {
            "action": "Updated",
            "message_id": str(uuid.uuid4()),
            "object_type": "PortfolioItem/Feature",
            "state": {"a": {"name": "ObjectID", "value": object_id}},
        }
    }


def test_three_hundred_deliveries_queue_one_catch_up_and_a_send_does_not_wait_for_them(
    client, cast, rally_sandbox, settings, live_server, task_cluster
):
    settings.SITE_URL = live_server.url  # Rally's own deliveries of the sends arrive too
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    # Something linked, so each catch-up really asks Rally.
    link = _linked(cast, integration, "Already linked")
    wait_until(
        lambda: WebhookRegistration.objects.filter(
            pk=integration.pk, state=WebhookState.REGISTERED
        ).exists(),
        timeout=30,
        what="the webhook's registration",
    )
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    url = reverse("sync:webhook", kwargs={"integration_id": integration.pk, "secret": secret})

    most_queued = 0
    for _ in range(300):
        response = client.post(url, data=_delivery(link.rally_oid), content_type="application/json")
        assert response.json() == {"received": True}
        most_queued = max(most_queued, catch_ups_in_the_queue())
    most_queued = max(most_queued, catch_ups_in_the_queue())
    assert most_queued <= 2

    # A Send after the deliveries: at most the catch-up pending and the one running go first.
    ran_before = catch_ups_run()
    feature = make_feature(cast.workspace, name=f"After the deliveries {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    wait_until(
        lambda: Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).exists(),
        timeout=120,
        what=f"{feature.reference} linked",
    )
    assert catch_ups_run() - ran_before <= 3

    wait_until(
        lambda: not IncomingEvent.objects.filter(processed_at__isnull=True).exists(),
        timeout=60,
        what="every delivery processed",
    )
    assert IncomingEvent.objects.count() >= 300
    assert catch_ups_in_the_queue() <= 1


def test_a_second_request_while_one_is_pending_queues_nothing(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    assert request_catch_up(integration.pk) is True
    assert request_catch_up(integration.pk) is False
    assert catch_ups_in_the_queue() == 1


def test_a_run_asked_for_while_another_runs_does_not_wait_and_runs_once_after_it(
    cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace, name=f"Linked {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    assert Link.objects.filter(integration=integration).exists()  # so a run reads Rally
    # A slow Rally keeps the first run reading while the second is asked for.
    assert rally_sandbox.admin("DELETE", "/sandbox-admin/faults").status_code == 200
    rally_sandbox.admin("POST", "/sandbox-admin/faults", json={"kind": "latency", "ms": 500})
    outcomes = []

    def first_run():
        try:
            outcomes.append(run_catch_up(integration.pk))
        finally:
            connection.close()

    first = threading.Thread(target=first_run)
    try:
        first.start()
        wait_until(
            lambda: PullCursor.objects.filter(integration=integration).exclude(holder="").exists(),
            timeout=30,
            what="the first run under way",
        )
        second = run_catch_up(integration.pk)
        assert second["reason"] == BUSY
        assert catch_ups_in_the_queue() == 0  # it left a request with the running one
        first.join(timeout=60)
    finally:
        rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
    assert "reason" not in outcomes[0]  # the first one read Rally
    assert outcomes[0]["cpu_ms"] > 0  # and its stored result says what CPU it cost
    assert catch_ups_in_the_queue() == 1  # and, ending, queued the run asked for meanwhile


def test_a_request_whose_task_was_lost_does_not_wedge_the_catch_up(
    cast, rally_sandbox, monkeypatch
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    monkeypatch.setattr(catchup, "PENDING_FOR", 1)
    assert request_catch_up(integration.pk) is True
    OrmQ.objects.all().delete()  # the task went with a restart
    assert request_catch_up(integration.pk) is False  # pending, for now
    wait_until(lambda: request_catch_up(integration.pk), timeout=10, what="the request to expire")
    assert catch_ups_in_the_queue() == 1
