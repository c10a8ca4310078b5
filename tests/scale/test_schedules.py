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

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]

# Every cluster's scheduler looks at the schedules every 30 s (django_q.cluster.Sentinel.guard).
SCHEDULER_CYCLE_S = 30
NAMES = (TICK_SCHEDULE_NAME, CATCH_UP_SCHEDULE_NAME)


def _runs() -> dict[str, int]:
    return {name: Task.objects.filter(group=name).count() for name in NAMES}


def _a_period_passes() -> None:
    """The schedules' next run comes due now, as when their period is over; every cluster's
    scheduler then looks at least once (and a little slack for the results to be saved)."""
    Schedule.objects.filter(name__in=NAMES).update(next_run=timezone.now() - timedelta(seconds=1))
    time.sleep(SCHEDULER_CYCLE_S + 6)


def test_each_schedule_runs_once_a_period_with_three_clusters(on_postgresql, clusters):
    clusters(3)
    assert Schedule.objects.filter(name__in=NAMES, repeats=-1).count() == 2

    _a_period_passes()
    assert _runs() == {TICK_SCHEDULE_NAME: 1, CATCH_UP_SCHEDULE_NAME: 1}

    _a_period_passes()
    assert _runs() == {TICK_SCHEDULE_NAME: 2, CATCH_UP_SCHEDULE_NAME: 2}
    assert Task.objects.filter(group__in=NAMES, success=False).count() == 0
