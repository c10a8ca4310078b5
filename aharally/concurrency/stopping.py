"""Whether the task cluster this process belongs to was asked to stop.

django-q2 stops a cluster by letting each worker finish its current task; a drain of a big
bulk send would go on for its whole time budget. The cluster's main process sets this flag
on SIGTERM/SIGINT, and before it restarts a stuck cluster (aharally.taskcluster.supervisor);
the workers, forked from it, share it, and long tasks check it: they stop taking new work,
give back what they took and have not started, and return.

A byte of shared memory without a lock, not a multiprocessing.Event: a worker killed while it
held an Event's lock (it takes it to read the flag) would leave every later reader, and the
main process setting it, waiting for good. Each cluster gets a fresh flag (install()).
"""

from __future__ import annotations

import multiprocessing
import time

# A sleeping task notices the flag within this many seconds.
POLL_SECONDS = 0.05

_flag = None


def install() -> None:
    """A fresh flag, lowered; call in the cluster's main process before the cluster forks."""
    global _flag
    _flag = multiprocessing.get_context("fork").RawValue("b", 0)


def request_stop() -> None:
    if _flag is not None:
        _flag.value = 1


def stop_requested() -> bool:
    """True once this process's cluster is stopping (always False outside a cluster)."""
    return _flag is not None and bool(_flag.value)


def sleep(seconds: float) -> bool:
    """Sleep up to `seconds`, waking when a stop is requested; True if one was."""
    if _flag is None:
        time.sleep(seconds)
        return False
    deadline = time.monotonic() + seconds
    while not _flag.value:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(POLL_SECONDS, left))
    return True
