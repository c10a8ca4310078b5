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
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """When the process started (ticks since boot): tells it from a later one with its id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def tree(pid: int) -> dict[int, str | None]:
    """A process and its descendants, each with its start time."""
    found: dict[int, str | None] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found[current] = _start_time(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(child) for child in children.read_text().split())
    return found


def kill(processes: dict[int, str | None]) -> None:
    """SIGKILL each process still running as the same one (not a later one with its id)."""
    for pid, started in processes.items():
        if started is not None and _start_time(pid) != started:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
