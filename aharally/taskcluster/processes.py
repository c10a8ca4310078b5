"""The processes of a task cluster, found and killed through /proc (Linux).

Each process django-q2 forks leads a process group of its own (so that honcho's SIGTERM to
the group reaches the main process alone: see the qcluster command), so the group can't be
used to kill a cluster: its processes are found as the descendants of its sentinel. Elsewhere
than Linux only the sentinel itself is known.
"""

from __future__ import annotations

import contextlib
import os
import signal


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """When the process started (ticks since boot): tells it from a later one with its id."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def tree(pid: int) -> dict[int, str | None]:
    """A process and its descendants, each with its start time.

    Read every few seconds by `qcluster`'s main process: plain reads, not pathlib's glob,
    which cost more than the rest of an idle cluster's second (a worker sending has 19
    threads, each with its `children` file)."""
    found: dict[int, str | None] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found[current] = _start_time(current)
        try:
            threads = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for thread in threads:
            children = _read(f"/proc/{current}/task/{thread}/children")
            with contextlib.suppress(ValueError):
                todo.extend(int(child) for child in (children or "").split())
    return found


def kill(processes: dict[int, str | None]) -> None:
    """SIGKILL each process still running as the same one (not a later one with its id)."""
    for pid, started in processes.items():
        if started is not None and _start_time(pid) != started:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
