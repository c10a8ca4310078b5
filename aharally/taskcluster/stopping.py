"""Whether the task cluster this process belongs to was asked to stop.

django-q2 stops a cluster by letting each worker finish its current task; a drain of a big
bulk send would go on for its whole time budget. The cluster's main process sets this flag
on SIGTERM/SIGINT (aharally/taskcluster/management/commands/qcluster.py) before stopping;
the workers, forked from it, share it, and long tasks check it: they stop taking new work,
give back what they took and have not started, and return.
"""

from __future__ import annotations

import multiprocessing

_flag = None


def install() -> None:
    """Create the shared flag; call in the cluster's main process before anything forks."""
    global _flag
    _flag = multiprocessing.get_context("fork").Event()


def request_stop() -> None:
    if _flag is not None:
        _flag.set()


def stop_requested() -> bool:
    """True once this process's cluster is stopping (always False outside a cluster)."""
    return _flag is not None and _flag.is_set()


def sleep(seconds: float) -> bool:
    """Sleep up to `seconds`, waking when a stop is requested; True if one was."""
    if _flag is None:
        import time

        time.sleep(seconds)
        return False
    return _flag.wait(seconds)


def clear() -> None:
    """Lower the flag again: the cluster stopped to be restarted, and the next one runs on."""
    if _flag is not None:
        _flag.clear()
