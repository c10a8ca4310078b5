"""Faults injected into the sandbox: retries with backoff, no blind retries, the cap."""

from __future__ import annotations

import threading

import pytest

from aharally.rally import (
    RALLY_CONCURRENCY_PER_USER,
    RallyOutcomeUnknown,
    RallyThrottled,
    RallyTransientError,
    where,
)
from tests.rally.conftest import RequestLog, make_client

pytestmark = pytest.mark.sandbox_only

STORIES = "hierarchicalrequirement"


def test_a_read_is_retried_with_backoff_through_two_503s(client, admin, sleeps, requests_made):
    admin.inject(
        kind="status",
        status=503,
        retry_after=2,
        count=2,
        match={"method": "GET", "path_contains": STORIES},
    )
    results = client.query("HierarchicalRequirement", fetch=["Name"], limit=1)
    assert results.total > 0
    assert requests_made.statuses == [503, 503, 200]
    assert len(sleeps) == 2
    # Retry-After: 2 is a floor; the backoff itself stays within its jittered range.
    assert all(delay >= 2 for delay in sleeps)
    assert all(delay <= 4.0 for delay in sleeps)


def test_a_429_is_retried_after_at_least_its_retry_after(client, admin, sleeps, requests_made):
    admin.inject(
        kind="status", status=429, retry_after=3, count=1, match={"path_contains": STORIES}
    )
    assert client.query("HierarchicalRequirement", limit=1).first() is not None
    assert requests_made.statuses == [429, 200]
    assert len(sleeps) == 1 and sleeps[0] >= 3


def test_a_read_gives_up_after_its_last_attempt_with_a_transient_error(
    client, admin, sleeps, requests_made
):
    admin.inject(kind="status", status=503, count=20, match={"path_contains": STORIES})
    with pytest.raises(RallyTransientError) as caught:
        client.query("HierarchicalRequirement", limit=1).first()
    assert caught.value.status == 503
    assert len(requests_made) == 4  # max_attempts of the test client's policy
    assert len(sleeps) == 3
    # Exponential: each wait's range starts where the previous one's range ended.
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0


def test_a_throttled_read_with_a_retry_after_beyond_the_limit_is_not_waited_for(
    rally_sandbox, admin, sleeps
):
    from aharally.rally import RetryPolicy

    patient = RetryPolicy(max_attempts=4, max_retry_after=10)
    with make_client(rally_sandbox, sleeps=sleeps, retry=patient) as client:
        log = RequestLog(client)
        admin.inject(kind="status", status=429, retry_after=3600, count=1)
        with pytest.raises(RallyThrottled) as caught:
            client.subscription()
    assert caught.value.retry_after == 3600
    assert len(log) == 1 and sleeps == []


def test_a_delete_is_retried_like_a_read(client, admin, platform, marker, sleeps):
    story = client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    log = RequestLog(client)
    admin.inject(kind="status", status=503, count=1, match={"method": "DELETE"})
    client.delete(story)
    assert log.methods() == ["DELETE", "DELETE"]
    assert log.statuses == [503, 200]
    assert len(sleeps) == 1
    assert client.query("HierarchicalRequirement", query=where("Name", "=", marker)).total == 0


def test_a_create_refused_with_503_is_not_retried(client, admin, platform, marker, sleeps):
    log = RequestLog(client)
    admin.inject(kind="status", status=503, count=1, match={"method": "POST"})
    with pytest.raises(RallyTransientError):
        client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    assert log.methods() == ["POST"]
    assert sleeps == []
    assert client.query("HierarchicalRequirement", query=where("Name", "=", marker)).total == 0


def test_a_create_whose_response_is_dropped_is_outcome_unknown_and_sent_once(
    client, admin, platform, marker, sleeps
):
    log = RequestLog(client)
    admin.inject(kind="drop_after_commit", count=1, match={"method": "POST"})
    with pytest.raises(RallyOutcomeUnknown) as caught:
        client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    assert caught.value.kind == "outcome_unknown"
    assert not isinstance(caught.value, RallyTransientError)
    assert log.methods() == ["POST"]
    assert sleeps == []
    # Rally did commit it: the caller must look before retrying, and finds exactly one.
    assert client.query("HierarchicalRequirement", query=where("Name", "=", marker)).total == 1


def test_concurrent_requests_per_credential_never_exceed_the_cap(rally_sandbox, admin):
    admin.inject(kind="latency", ms=150, count=200, match={"method": "GET"})
    admin.reset_stats()
    clients = [make_client(rally_sandbox) for _ in range(3)]  # share one credential
    errors: list[Exception] = []
    start = threading.Barrier(30)

    def work(index: int) -> None:
        try:
            start.wait(timeout=30)
            clients[index % 3].query("HierarchicalRequirement", limit=1).first()
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for c in clients:
        c.close()
    assert errors == []
    stats = admin.stats()
    assert stats["requests"] >= 30
    (peak,) = stats["max_concurrent"].values()
    assert RALLY_CONCURRENCY_PER_USER >= peak > 1  # capped, and really concurrent


def test_a_lower_cap_binds_even_though_the_server_could_take_more(rally_sandbox, admin, marker):
    admin.inject(kind="latency", ms=100, count=100, match={"method": "GET"})
    admin.reset_stats()
    # Its own key: this cap is not shared with the other tests' clients.
    client = make_client(rally_sandbox, max_concurrent=4, concurrency_key=f"test:{marker}")
    errors: list[Exception] = []
    start = threading.Barrier(16)

    def work() -> None:
        try:
            start.wait(timeout=30)
            client.subscription(fetch=["Name"])
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    client.close()
    assert errors == []
    (peak,) = admin.stats()["max_concurrent"].values()
    assert 4 >= peak > 1
