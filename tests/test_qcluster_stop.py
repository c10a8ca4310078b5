"""`manage.py qcluster` stops when asked, as honcho asks: SIGTERM to its whole process group.

The cluster runs as a real process tree on a database of its own; the running task must be
finished (or released) before it exits.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
# A bound, not a measurement: honcho kills what is still running after 5 s.
STOP_WITHIN_S = 5


@pytest.fixture
def cluster_env(tmp_path):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cluster.sqlite3'}",
        AHARALLY_TESTING="true",
        Q_WORKERS="2",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0", "--no-input"], cwd=ROOT, env=env, check=True)
    return env


def wait_for(path: Path, *, within_s: float) -> None:
    wait_until(path.exists, timeout=within_s, interval=0.1, what=f"{path.name} to appear")


def test_a_sigterm_to_the_workers_group_stops_it_after_its_running_task(cluster_env, tmp_path):
    log = (tmp_path / "qcluster.log").open("w")
    # Its own session and group, as honcho starts each process of the Procfile.
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=cluster_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        enqueue = (
            "from django_q.tasks import async_task; "
            f"async_task('tests.qcluster_tasks.hold', {str(tmp_path)!r}, 2.0)"
        )
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", enqueue],
            cwd=ROOT,
            env=cluster_env,
            check=True,
        )
        wait_for(tmp_path / "started", within_s=30)
        tree = descendants(cluster.pid)
        assert len(tree) >= 4  # sentinel, workers, monitor, pusher
        os.killpg(cluster.pid, signal.SIGTERM)  # what honcho does on Ctrl-C
        assert cluster.wait(timeout=STOP_WITHIN_S) == 0
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        log.close()
    output = (tmp_path / "qcluster.log").read_text()
    assert "has stopped" in output, output
    assert (tmp_path / "finished").exists(), "the running task was killed, not finished"
    with sqlite3.connect(tmp_path / "cluster.sqlite3") as db:
        done = db.execute("SELECT count(*) FROM django_q_task WHERE success = 1").fetchone()[0]
        queued = db.execute("SELECT count(*) FROM django_q_ormq").fetchone()[0]
    assert (done, queued) == (1, 0)  # its result saved, nothing left claimed in the queue
    assert [pid for pid in tree if alive(pid)] == []  # no process of it outlives it


def descendants(pid: int) -> list[int]:
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    return [int(c) for c in children] + [d for c in children for d in descendants(int(c))]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
