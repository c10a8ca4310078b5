"""django-q2's database broker made cheaper to run idle (Q_CLUSTER "broker_class").

Queuing a task wakes the clusters' pushers (aharally/taskcluster/wakeups.py), so a Send
click's task is taken at once, and an idle cluster looks at the queue only every Q_POLL_MS
(1,000 ms) besides: django-q2's broker looks every "poll", which had to be 50 ms for the
click's sake, 20 looks a second for nothing most of the time. Each look is a statement of its
own, on the database driver's cursor (Django's cursor wrapper cost more than the statement),
and tasks are taken the broker's own way only when one is due: the same rows, locks and
retries as django-q2's.

Two more of django-q2's idle habits are made cheaper here: the main process's watchdog counts
the queue (every few seconds) without a new connection each time, and the sentinel's cluster status
(for `qinfo` and `qmonitor`) is saved every few seconds rather than twice a second.
"""

from __future__ import annotations

import math
import time

from django import db
from django.db import connections, transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from aharally.taskcluster.wakeups import Listener, wake

# The sentinel's status is saved at most this often, and kept twice as long in the cache.
STAT_EVERY_SECONDS = 5.0


class QuickPollORM(ORM):
    def __init__(self, list_key: str = Conf.CLUSTER_NAME) -> None:
        super().__init__(list_key)
        self._sql: str | None = None
        self._stat_saved: dict[str, float] = {}
        self._wakeups = Listener(Conf.ORM, self.list_key)

    def _anything_due(self) -> bool:
        if transaction.get_autocommit(using=Conf.ORM):
            db.close_old_connections()  # as the ORM broker does before each look
        connection = connections[Conf.ORM]
        if self._sql is None:
            quote = connection.ops.quote_name
            mark = "?" if connection.vendor == "sqlite" else "%s"
            self._sql = (
                f"SELECT 1 FROM {quote(OrmQ._meta.db_table)} "  # noqa: S608
                f"WHERE {quote('key')} = {mark} AND {quote('lock')} < {mark} LIMIT 1"
            )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        connection.ensure_connection()
        # An error here marks the connection, which the next look's close_old_connections
        # closes if it is no longer usable, as after any query of Django's.
        with connection.wrap_database_errors:
            cursor = connection.connection.cursor()
            try:
                cursor.execute(self._sql, (self.list_key, now))
                return cursor.fetchone() is not None
            finally:
                cursor.close()

    def enqueue(self, task) -> int:
        task_id = super().enqueue(task)
        wake(Conf.ORM, self.list_key)
        return task_id

    def dequeue(self):
        self._wakeups.listen()  # before the look: a task queued after it wakes the wait
        if not self._anything_due():
            self._wakeups.wait(Conf.POLL)  # empty queue: until a task is queued, or POLL
            return None
        return super().dequeue()

    def stop_listening(self) -> None:
        """The pusher is done: no more wake-ups (a killed one's socket is cleared by the next
        task's sender)."""
        self._wakeups.close()

    def queue_size(self) -> int:
        """django-q2's count, on the connection as it is: the watchdog asks every few seconds,
        and closing it first (CONN_MAX_AGE=0) made each a new connection. After an error the
        watchdog closes it (aharally/taskcluster/watchdog.py)."""
        return (
            OrmQ.objects.using(Conf.ORM).filter(key=self.list_key, lock__lte=timezone.now()).count()
        )

    def set_stat(self, key: str, value: str, timeout: int) -> None:
        """The sentinel saves its status every guard cycle (half a second): in the database
        cache that is four statements each time, for `qinfo` and `qmonitor`. At most every
        STAT_EVERY_SECONDS here, kept long enough to be there until the next."""
        now = time.monotonic()
        if now - self._stat_saved.get(key, -math.inf) < STAT_EVERY_SECONDS:
            return
        self._stat_saved[key] = now
        super().set_stat(key, value, max(timeout, math.ceil(2 * STAT_EVERY_SECONDS)))
