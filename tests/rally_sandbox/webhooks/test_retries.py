"""Deliveries that fail: retries, giving up, unreachable and hanging receivers, disabled hooks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.rally_sandbox.webhooks.support import (
    RETRY_DELAYS,
    TIMEOUT,
    WAIT_SECONDS,
    create,
    deliveries,
    delivery_of,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.sandbox_only


def test_a_failing_receiver_gets_retries_until_it_answers(sandbox, api, hook, receiver):
    path, webhook = hook()
    receiver.answers[path] = [500, 503, 200]

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Retried"})

    bodies = receiver.wait_for(path, 3)
    assert len({body["message"]["message_id"] for body in bodies}) == 1
    delivery = wait_until(
        lambda: delivery_of(sandbox, webhook, status="delivered"),
        timeout=WAIT_SECONDS,
        interval=0.1,
        what=lambda: f"the delivery delivered: {delivery_of(sandbox, webhook)}",
    )
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    rule = api.get(webhook["_ref"], timeout=TIMEOUT).json()
    assert (rule["FireCount"], rule["ErrorCount"], rule["LastStatus"]) == (3, 2, 200)
    assert rule["LastSuccess"] and rule["LastFailure"]


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_retry(
    sandbox, api, hook, receiver
):
    path, webhook = hook()
    receiver.answers[path] = [500]

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Never delivered"})

    receiver.wait_for(path, len(RETRY_DELAYS) + 1)
    delivery = wait_until(
        lambda: delivery_of(sandbox, webhook, status="failed"),
        timeout=WAIT_SECONDS,
        interval=0.1,
        what=lambda: f"the delivery failed: {delivery_of(sandbox, webhook)}",
    )
    assert len(delivery["attempts"]) == len(RETRY_DELAYS) + 1
    assert len(receiver.bodies(path)) == len(RETRY_DELAYS) + 1


def test_an_unreachable_receiver_is_recorded_as_a_failed_attempt(sandbox, api, hook):
    _, webhook = hook()
    answer = api.patch(webhook["_ref"], json={"TargetUrl": "http://127.0.0.1:9/down"})
    assert answer.status_code == 200

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Nobody listens"})

    def attempted() -> list[dict]:
        mine = [d for d in deliveries(sandbox) if d["webhook"] == webhook["ObjectUUID"]]
        return mine[0]["attempts"] if mine else []

    attempts = wait_until(attempted, timeout=WAIT_SECONDS, interval=0.1, what="an attempt")
    assert attempts[0]["status_code"] is None
    assert "ConnectionError" in attempts[0]["error"]


def test_a_hanging_receiver_does_not_hold_up_the_write(sandbox, api, hook, receiver):
    path, _ = hook()
    gate = receiver.hold[path] = threading.Event()
    try:
        create(sandbox, api, "HierarchicalRequirement", {"Name": "First"})
        # The delivery of the first is now stuck in the receiver; writes still answer.
        answer = api.post(
            f"{sandbox.wsapi_url}/HierarchicalRequirement/create",
            json={"HierarchicalRequirement": {"Name": "Second"}},
            timeout=5,
        )
        assert answer.json()["CreateResult"]["Errors"] == []
    finally:
        gate.set()
    assert len(receiver.wait_for(path, 2)) == 2


def test_a_disabled_webhook_delivers_nothing(sandbox, api, hook, receiver):
    path, webhook = hook()
    assert api.patch(webhook["_ref"], json={"Disabled": True}).json()["Disabled"] is True
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Unseen"})
    api.patch(webhook["_ref"], json={"Disabled": False})
    seen = create(sandbox, api, "HierarchicalRequirement", {"Name": "Seen"})

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == seen["_refObjectUUID"]


def test_the_summary_counts_deliveries_by_outcome_and_names_the_thread_sending_them(
    sandbox, api, hook, receiver
):
    before = sandbox.admin("GET", "/sandbox-admin/webhook-deliveries/summary").json()
    path, _ = hook()
    gate = receiver.hold[path] = threading.Event()
    try:
        create(sandbox, api, "HierarchicalRequirement", {"Name": "Counted"})
        create(sandbox, api, "HierarchicalRequirement", {"Name": "Counted too"})
        # Queued as each write commits; the first is held in the receiver.
        held = sandbox.admin("GET", "/sandbox-admin/webhook-deliveries/summary").json()
        assert held["pending"] - before["pending"] == 2
        assert held["delivered"] == before["delivered"]
    finally:
        gate.set()
    receiver.wait_for(path, 2)
    after = wait_until(
        lambda: (
            summary
            if (
                summary := sandbox.admin("GET", "/sandbox-admin/webhook-deliveries/summary").json()
            )["delivered"]
            - before["delivered"]
            == 2
            else None
        ),
        timeout=WAIT_SECONDS,
        interval=0.1,
        what="both delivered",
    )
    assert after["pending"] == before["pending"]
    assert after["failed"] == before["failed"]
    thread = after["delivery_thread"]
    # The thread's CPU can be read apart from the process's (a bench does).
    assert (Path("/proc") / str(thread["pid"]) / "task" / str(thread["tid"]) / "stat").exists()
