"""A task cluster heals itself: any of its processes killed (SIGKILL, as the OOM killer does),
tasks run again within a minute, by a real `manage.py qcluster` on the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from tests.sync.cluster import TaskCluster, process_tree, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 2
# Within a minute of the death, plus a fresh cluster's start on a loaded machine.
RECOVER_WITHIN_S = 90


def _run_task(tmp_path: Path, name: str, *, within: float) -> int:
    """Enqueue a task that writes its worker's pid; wait until it ran and its result is saved
    (the monitor's part: a task run but not acknowledged is run again), return that pid."""
    path = tmp_path / name
    task_id = async_task("tests.qcluster_tasks.mark", str(path))
    wait_until(
        lambda: Task.objects.filter(id=task_id, success=True).exists(),
        timeout=within,
        what=f"task {name} done",
    )
    assert not OrmQ.objects.exists()  # acknowledged: nothing left to run again
    return int(path.read_text())


def _sentinel_children(cluster: TaskCluster) -> list[int]:
    """django-q2's sentinel's children in the order it forked them: workers, monitor, pusher."""
    main = cluster.process.pid
    sentinels = _children(main)
    assert len(sentinels) == 1, sentinels
    return sorted(_children(sentinels[0]))


def _children(pid: int) -> list[int]:
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in children.read_text().split())
    return found


def _kill(pids) -> None:
    import os
    import signal

    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster():
    cluster = TaskCluster(workers=WORKERS).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_tasks_run_again_after_both_workers_are_killed(cluster, tmp_path):
    first = _run_task(tmp_path, "before", within=60)
    children = _sentinel_children(cluster)
    workers = children[:WORKERS]
    assert first in workers  # the order of the fork: the workers come first

    _kill(workers)
    _run_task(tmp_path, "after", within=RECOVER_WITHIN_S)

    assert not set(workers) & process_tree(cluster.process.pid)


def test_tasks_run_again_after_the_pusher_and_monitor_are_killed(cluster, tmp_path):
    _run_task(tmp_path, "before", within=60)
    children = _sentinel_children(cluster)
    monitor_and_pusher = children[WORKERS:]
    assert len(monitor_and_pusher) == 2

    _kill(monitor_and_pusher)
    _run_task(tmp_path, "after", within=RECOVER_WITHIN_S)
