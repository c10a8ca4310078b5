"""The task cluster's watchdog (aharally/taskcluster/watchdog.py): the tasks waiting are
counted every few seconds, not at each of its checks (one a second), and a cluster that takes
none of them while a worker is free is still judged stuck, never sooner than its period."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker
from django_q.tasks import async_task

from aharally.taskcluster import watchdog as watchdog_module
from aharally.taskcluster.progress import Progress
from aharally.taskcluster.watchdog import COUNT_EVERY_SECONDS, Watchdog

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    now = [time.monotonic()]
    monkeypatch.setattr(watchdog_module.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def queue():
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()
    broker.stop_listening()


def _counts(queries) -> int:
    return sum("COUNT(" in query["sql"].upper() for query in queries)


def test_the_queue_is_counted_every_few_seconds_not_at_each_check(clock, queue):
    watchdog = Watchdog(stall_seconds=20, workers=2)
    watchdog.begin(Progress())

    with CaptureQueriesContext(connection) as queries:
        for _ in range(int(COUNT_EVERY_SECONDS)):
            assert watchdog.check() is None
            clock[0] += 1
        assert _counts(queries) == 1
        assert watchdog.check() is None  # COUNT_EVERY_SECONDS after the first
    assert _counts(queries) == 2


def test_a_short_stall_period_is_counted_often_enough_to_judge_it(clock, queue):
    assert Watchdog(stall_seconds=5, workers=2).count_every == 5 / 4


def test_tasks_left_waiting_with_a_worker_free_are_judged_stuck_after_the_period(clock, queue):
    watchdog = Watchdog(stall_seconds=20, workers=2)
    watchdog.begin(Progress())
    assert watchdog.check() is None
    async_task("tests.qcluster_tasks.mark", "/nonexistent")  # queued; no cluster takes it

    judged = []
    for _ in range(40):
        clock[0] += 1
        judged.append(watchdog.check())

    first = next(n for n, reason in enumerate(judged, start=1) if reason)
    # Not before the period; at most a count's interval after it.
    assert 20 < first <= 20 + COUNT_EVERY_SECONDS + 1
    assert "1 task(s) waited" in judged[first - 1]
