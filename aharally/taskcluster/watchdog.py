"""Whether the task cluster makes progress, judged once a second in its main process.

django-q2's sentinel replaces a process that died, but a process killed while it waited on
one of the cluster's in-process queues (a multiprocessing.Queue) leaves that queue's lock
held: its successors wait on it for good, and no task runs again while the sentinel, and with
it the heartbeat, lives on. So any process death restarts the whole cluster, and so does a
cluster that takes nothing while tasks wait and a worker is free (however it got there).
"""

from __future__ import annotations

import logging
import math
import time

from django import db
from django.conf import settings
from django_q.brokers import get_broker
from django_q.conf import Conf

from aharally.taskcluster.progress import Progress

logger = logging.getLogger(__name__)

# The tasks waiting are counted at most this often (a quarter of the stall period when that is
# shorter): a statement each time, in a loop that runs every second. Between counts the last
# one stands, so a stall is judged at most this much later, never sooner.
COUNT_EVERY_SECONDS = 5.0


class Watchdog:
    """Progress of the clusters one `qcluster` command runs, one after the other."""

    def __init__(self, *, stall_seconds: float | None = None, workers: int | None = None):
        self.stall_seconds = (
            settings.CLUSTER_STALL_SECONDS if stall_seconds is None else stall_seconds
        )
        self.workers = int(workers or Conf.WORKERS)
        # The last moment a task was taken, or none waited, or every worker was busy. Kept
        # across restarts: a cluster restarted in vain is still not making progress.
        self.progress_at = time.monotonic()
        self.waiting = 0
        self._progress: Progress | None = None
        self._started_at = self.progress_at
        self._broker = None
        self._broker_failed = False
        self.count_every = min(COUNT_EVERY_SECONDS, self.stall_seconds / 4)
        self._counted_at = -math.inf

    def begin(self, progress: Progress) -> None:
        """Watch a freshly started cluster that reports to `progress`."""
        self._progress = progress
        self._started_at = time.monotonic()

    def progress_age(self) -> float:
        """Seconds since the cluster last made progress (0 while it does)."""
        return max(0.0, time.monotonic() - self.progress_at)

    def check(self) -> str | None:
        """Why the cluster must be restarted, or None while it is well."""
        if self._progress is None:
            return None
        snapshot = self._progress.read()
        if snapshot is None:
            return "a process died holding the lock of the cluster's progress record"
        if snapshot.died:
            return f"its {snapshot.died} process died"
        now = time.monotonic()
        if now - self._counted_at >= self.count_every:
            waiting = self._waiting()
            if waiting is None:  # the broker did not answer: nothing to judge by
                return None
            self.waiting, self._counted_at = waiting, now
        if self.waiting == 0 or snapshot.running >= self.workers:
            self.progress_at = now
        else:
            self.progress_at = max(self.progress_at, snapshot.taken_at)
        # A fresh cluster gets its own full period before it is judged.
        stalled = now - max(self.progress_at, self._started_at)
        if stalled > self.stall_seconds:
            return (
                f"{self.waiting} task(s) waited {stalled:.0f} seconds with a worker free and none "
                "was taken"
            )
        return None

    def _waiting(self) -> int | None:
        """Tasks in the broker that no cluster has taken (the ORM broker: due and unlocked)."""
        try:
            if self._broker is None:
                self._broker = get_broker()
            waiting = self._broker.queue_size()
        except Exception:
            if not self._broker_failed:  # once, not every second
                logger.warning("The task queue could not be read", exc_info=True)
            self._broker_failed = True
            # The broker's count keeps its connection between checks: a broken one is
            # replaced by the next.
            db.connections.close_all()
            return None
        self._broker_failed = False
        return int(waiting or 0)
