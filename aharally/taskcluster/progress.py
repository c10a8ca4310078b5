"""What the task cluster's processes tell its main process: tasks taken, and deaths.

Shared memory created in the main process before each cluster is forked, written by the
workers (through django-q2's pre_execute / post_execute_in_worker signals) and the sentinel
(when it replaces a process that died), read by the watchdog (aharally.taskcluster.watchdog).
No queue or pipe: those are what a killed process leaves locked. The one lock here is taken
with a timeout by the reader, so a process killed while holding it shows as a stuck cluster
instead of stopping the watchdog too.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

from django_q.signals import post_execute_in_worker, pre_execute

# Slots of the shared array.
_TAKEN_AT, _RUNNING, _DIED = range(3)
ROLES = {1: "worker", 2: "monitor", 3: "pusher"}
# The broker ids of the last tasks the pusher took: more than can be in flight at once
# (django-q2's queue_limit, the running ones and a pipe's worth).
TAKEN_SLOTS = 256

_current: Progress | None = None


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # time.monotonic() when a worker last started or finished a task
    running: int  # tasks running now
    died: str  # the role of a process that died ("" when none did)


class Progress:
    def __init__(self) -> None:
        self._values = multiprocessing.get_context("fork").Array("d", 3)
        self._values[_TAKEN_AT] = time.monotonic()
        # A ring written by the pusher alone, read once it is dead: no lock.
        self._taken = multiprocessing.get_context("fork").RawArray("q", 1 + TAKEN_SLOTS)

    def pushed(self, ack_id) -> None:
        """The pusher took this task from the broker (an ORM broker's row id)."""
        if not isinstance(ack_id, int):  # Redis: a popped task is gone from the broker
            return
        count = self._taken[0]
        self._taken[1 + count % TAKEN_SLOTS] = ack_id
        self._taken[0] = count + 1

    def taken(self) -> list[int]:
        """The broker ids of the tasks pushed last, as many as were recorded."""
        count = min(self._taken[0], TAKEN_SLOTS)
        return [self._taken[1 + slot] for slot in range(count)]

    def task_started(self) -> None:
        with self._values.get_lock():
            self._values[_TAKEN_AT] = time.monotonic()
            self._values[_RUNNING] += 1

    def task_finished(self) -> None:
        with self._values.get_lock():
            self._values[_TAKEN_AT] = time.monotonic()
            self._values[_RUNNING] = max(0, self._values[_RUNNING] - 1)

    def process_died(self, role: str) -> None:
        code = {name: code for code, name in ROLES.items()}[role]
        # No lock: a single aligned store, and the sentinel must not wait on a dead process.
        self._values.get_obj()[_DIED] = code

    def read(self, *, timeout: float = 2.0) -> Snapshot | None:
        """The shared values; None when a process holds their lock for longer than `timeout`."""
        lock = self._values.get_lock()
        if not lock.acquire(timeout=timeout):
            return None
        try:
            taken_at, running, died = self._values[:]
        finally:
            lock.release()
        return Snapshot(taken_at, int(running), ROLES.get(int(died), ""))


def install() -> Progress:
    """A fresh record for the next cluster; call in the main process before it forks."""
    global _current
    _current = Progress()
    pre_execute.connect(_started, dispatch_uid="aharally.taskcluster.progress.started")
    post_execute_in_worker.connect(_finished, dispatch_uid="aharally.taskcluster.progress.done")
    return _current


def current() -> Progress | None:
    return _current


def _started(**_kwargs) -> None:
    if _current is not None:
        _current.task_started()


def _finished(**_kwargs) -> None:
    if _current is not None:
        _current.task_finished()
