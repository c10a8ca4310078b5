"""A real django-q2 cluster (`manage.py qcluster`) as a subprocess on the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent

# Short timings so that a killed worker's rows and lease come back within seconds.
CLUSTER_ENV = {
    "SYNC_CLAIM_TIMEOUT_SECONDS": "5",
    "SYNC_LEASE_SECONDS": "5",
    "SYNC_DRAIN_WAIT_SECONDS": "5",
    "SYNC_BASE_BACKOFF_SECONDS": "1",
    "SYNC_MAX_BACKOFF_SECONDS": "4",
    "SYNC_RICH_TEXT_QUIET_SECONDS": "0",
}


def database_url() -> str:
    """The URL of the database this test runs on (the test database, committed data)."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return (
        f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/"
        f"{settings['NAME']}"
    )


class TaskCluster:
    def __init__(
        self, *, env: dict[str, str] | None = None, workers: int = 2, name: str = ""
    ) -> None:
        self.extra_env = {**CLUSTER_ENV, **(env or {}), "Q_WORKERS": str(workers)}
        self.process: subprocess.Popen | None = None
        # One log per cluster when a test runs several (what each one did is read from it).
        suffix = f"-{name}" if name else ""
        self.log_path = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"qcluster-{os.getpid()}{suffix}.log"
        )

    def env(self) -> dict[str, str]:
        from django.conf import settings

        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(
            {
                "AHARALLY_TESTING": "true",
                "DATABASE_URL": database_url(),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
                # The address webhooks are registered at: the test's live server, if any.
                "SITE_URL": settings.SITE_URL,
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> TaskCluster:
        from aharally.sync.tasks import ensure_schedules

        ensure_schedules()  # flushed by the previous test's teardown
        log = self.log_path.open("ab")
        self.log_offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker processes go with it on kill()
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the whole cluster (sentinel, workers, pusher): a crash, not a stop.

        The cluster's processes lead process groups of their own (aharally.taskcluster), so
        the tree is found through /proc: frozen first (a sentinel can't respawn a worker),
        then killed. Returns once every one of them is gone, so a restart never meets them.
        """
        if self.process is None:
            return
        tree = _kill_session(self.process.pid, process_tree(self.process.pid))
        self.process.wait(timeout=10)
        self.process = None
        wait_until(
            lambda: not any(_alive(pid) for pid in tree),
            timeout=10,
            interval=0.05,
            what=lambda: f"the killed cluster's processes gone ({[p for p in tree if _alive(p)]})",
        )

    def stop(self, *, within: float = 20) -> bool:
        """Ask the cluster to stop (SIGTERM to its main process); kill what is left after.

        True when it stopped by itself within `within` seconds, as a graceful stop must.
        """
        if self.process is None:
            return True
        tree = process_tree(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        left = [pid for pid in tree if _alive(pid)]
        # A worker the stop left behind would go on using the database; so would a process
        # forked while the cluster stopped (not in `tree`), which a lock held across the fork
        # can leave blocked for good: every process of the cluster's session goes.
        _kill_session(self.process.pid, tree)
        self.process = None
        return not left

    def log(self) -> str:
        """What this cluster wrote since it was last started."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(getattr(self, "log_offset", 0))
            return handle.read().decode(errors="replace")


def process_tree(pid: int) -> set[int]:
    """A process and all its descendants (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def in_session(sid: int) -> set[int]:
    """The processes of a session (the cluster's, started with `start_new_session`): its
    descendants even once re-parented, as a process whose parent died is."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.add(int(stat.parent.name))
    return found


def _kill_session(sid: int, known: set[int]) -> set[int]:
    """SIGKILL `known` and every process of the session `sid`: frozen first, then looked for
    again, so that none forks a process the kill misses (a sentinel still starting its
    processes when the stop came left a monitor running for good). Returns what was killed."""
    frozen = known | in_session(sid)
    for pid in frozen:
        _signal(pid, signal.SIGSTOP)
    found = frozen | in_session(sid) | {child for pid in frozen for child in process_tree(pid)}
    for pid in found:
        _signal(pid, signal.SIGKILL)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
