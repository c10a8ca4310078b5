"""Tasks the task-cluster tests enqueue (imported by the cluster's workers by dotted path)."""

from __future__ import annotations

import time
from pathlib import Path


def hold(directory: str, seconds: float = 2.0) -> str:
    """Say it started, take a while, say it finished."""
    Path(directory, "started").touch()
    time.sleep(seconds)
    Path(directory, "finished").touch()
    return "done"


def mark(path: str) -> int:
    """Write the worker's process id to `path`: proof that a task ran, and where."""
    import os

    Path(path).write_text(str(os.getpid()))
    return os.getpid()


def frozen(path: str) -> int:
    """Write how many objects the worker's garbage collector leaves out (gc.freeze)."""
    import gc

    Path(path).write_text(str(gc.get_freeze_count()))
    return gc.get_freeze_count()
