"""Each schedule runs once a period, however many clusters run: django-q2's scheduler takes
due schedules under a row lock (SELECT … FOR UPDATE in one transaction) and moves their next
run before it commits; a second cluster's scheduler waits for that lock, then finds them no
longer due. Counted from django-q2's own task results."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task

from aharally.sync.tasks import CATCH_UP_SCHEDULE_NAME, TICK_SCHEDULE_NAME
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.long_running,
]

# Every cluster's scheduler looks at the schedules every 30 s (django_q.cluster.Sentinel.guard).
SCHEDULER_CYCLE_S = 30
NAMES = (TICK_SCHEDULE_NAME, CATCH_UP_SCHEDULE_NAME)


def _runs() -> dict[str, int]:
    return {name: Task.objects.filter(group=name).count() for name in NAMES}


def _a_period_passes(runs_before: int) -> None:
    """The schedules' next run comes due now, as when their period is over. Wait for each to
    have run (a loaded machine may take more than one scheduler cycle to start and record the
    task), then one more full cycle of every cluster's scheduler, time for a duplicate to show.
    Their next occurrence is moved an hour away first: the period is a minute, and the wait
    may outlast it."""
    Schedule.objects.filter(name__in=NAMES).update(next_run=timezone.now() - timedelta(seconds=1))
    wait_until(
        lambda: min(_runs().values()) > runs_before,
        timeout=4 * SCHEDULER_CYCLE_S,
        what="each schedule's run",
    )
    Schedule.objects.filter(name__in=NAMES).update(next_run=timezone.now() + timedelta(hours=1))
    # Time must pass here, not a condition come true: a duplicate run is what must NOT happen,
    # and nothing a cluster records says when its scheduler last looked at the schedules.
    time.sleep(SCHEDULER_CYCLE_S + 6)


def test_each_schedule_runs_once_a_period_with_three_clusters(on_postgresql, clusters):
    clusters(3)
    assert Schedule.objects.filter(name__in=NAMES, repeats=-1).count() == 2

    _a_period_passes(0)
    assert _runs() == {TICK_SCHEDULE_NAME: 1, CATCH_UP_SCHEDULE_NAME: 1}

    _a_period_passes(1)
    assert _runs() == {TICK_SCHEDULE_NAME: 2, CATCH_UP_SCHEDULE_NAME: 2}
    assert Task.objects.filter(group__in=NAMES, success=False).count() == 0
