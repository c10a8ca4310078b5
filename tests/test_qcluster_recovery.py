"""A task cluster heals itself: any of its processes killed (SIGKILL, as the OOM killer does),
tasks run again within a minute, by a real `manage.py qcluster` on the test database."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from aharally.sync.models import Link
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.cluster import TaskCluster, process_tree
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's sandbox (tests/conftest.py); webhooks are removed after each test."""
    return sync_sandbox


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
    # Acknowledged: nothing of it left to run again. (The monitor saves the result a moment
    # before it deletes the queue entry, and the scheduler may queue its own tasks meanwhile.)
    wait_until(
        lambda: not any(entry.task_id() == task_id for entry in OrmQ.objects.all()),
        timeout=10,
        what=f"task {name} acknowledged",
    )
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


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _signal(pids, sig: int) -> None:
    for pid in pids:
        os.kill(pid, sig)


def _cluster_check(client) -> tuple[int, dict]:
    response = client.get("/readyz?check=cluster")
    return response.status_code, json.loads(response.content)["checks"]["cluster"]


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

    _signal(workers, signal.SIGKILL)
    _run_task(tmp_path, "after", within=RECOVER_WITHIN_S)

    assert not set(workers) & process_tree(cluster.process.pid)


def test_tasks_run_again_after_the_pusher_and_monitor_are_killed(cluster, tmp_path):
    _run_task(tmp_path, "before", within=60)
    children = _sentinel_children(cluster)
    monitor_and_pusher = children[WORKERS:]
    assert len(monitor_and_pusher) == 2

    _signal(monitor_and_pusher, signal.SIGKILL)
    _run_task(tmp_path, "after", within=RECOVER_WITHIN_S)


def test_tasks_run_again_after_the_sentinel_is_killed_and_its_orphans_are_gone(cluster, tmp_path):
    _run_task(tmp_path, "before", within=60)
    (sentinel,) = _children(cluster.process.pid)
    orphans = _sentinel_children(cluster)

    _signal([sentinel], signal.SIGKILL)
    # Its orphans go on taking tasks until the main process kills them: wait for that.
    wait_until(
        lambda: not [pid for pid in orphans if _alive(pid)], timeout=30, what="orphans killed"
    )
    _run_task(tmp_path, "after", within=RECOVER_WITHIN_S)
    assert "sentinel process died" in cluster.log()


def test_workers_busy_with_long_tasks_while_more_wait_are_not_taken_for_stuck(tmp_path):
    cluster = TaskCluster(workers=WORKERS, env={"CLUSTER_STALL_SECONDS": "5"}).start()
    try:
        _run_task(tmp_path, "before", within=60)
        # Both workers busy for three stall periods while more tasks wait than the cluster's
        # own queue takes in (django-q2's queue_limit: workers squared), so some stay in the
        # broker, untaken, all along.
        for n in range(WORKERS):
            (tmp_path / f"long{n}").mkdir()
            async_task("tests.qcluster_tasks.hold", str(tmp_path / f"long{n}"), 15.0)
        waiting = [
            async_task("tests.qcluster_tasks.mark", str(tmp_path / f"waiting{n}"))
            for n in range(WORKERS**2 + 2)
        ]
        wait_until(
            lambda: Task.objects.filter(id__in=waiting, success=True).count() == len(waiting),
            timeout=90,
            what="the waiting tasks done",
        )
        # Both long tasks end well, neither killed by a restart (the second may be saved a
        # moment after the waiting ones, when its worker is slow to start it under load).
        wait_until(
            lambda: (
                Task.objects.filter(func="tests.qcluster_tasks.hold", success=True).count() == 2
            ),
            timeout=60,
            what="both long tasks done",
        )
        assert "Restarting the task cluster" not in cluster.log()
    finally:
        cluster.stop()


def test_readyz_says_not_ready_while_tasks_wait_and_none_is_taken_and_ready_after(
    client, settings, tmp_path
):
    # The cluster restarts itself after 20 s of no progress; /readyz here sees it after 3.
    settings.CLUSTER_STALL_SECONDS = 3
    cluster = TaskCluster(
        workers=WORKERS,
        env={
            "CLUSTER_HEARTBEAT_SECONDS": "1",
            "CLUSTER_STALL_SECONDS": "20",
            "CLUSTER_RESTART_GRACE_SECONDS": "2",
        },
    ).start()
    try:
        _run_task(tmp_path, "before", within=60)
        wait_until(lambda: _cluster_check(client)[0] == 200, timeout=30, what="ready")
        # Frozen, not dead: the sentinel sees them all alive and its heartbeat goes on.
        frozen = _sentinel_children(cluster)
        _signal(frozen, signal.SIGSTOP)
        task_id = async_task("tests.qcluster_tasks.mark", str(tmp_path / "after"))

        _status, check = wait_until(
            lambda: (answer := _cluster_check(client))[0] == 503 and answer,
            timeout=30,
            what="/readyz to see the stuck cluster",
        )
        assert "no task cluster has taken one" in check["reason"]
        assert check["clusters"] == 1
        assert check["waiting"] == 1

        wait_until(
            lambda: Task.objects.filter(id=task_id, success=True).exists(),
            timeout=RECOVER_WITHIN_S,
            what="the restarted cluster to run the task",
        )
        assert not set(frozen) & process_tree(cluster.process.pid)  # killed, not thawed
        wait_until(lambda: _cluster_check(client)[0] == 200, timeout=30, what="ready again")
        assert "Restarting the task cluster" in cluster.log()
    finally:
        cluster.stop()


def test_a_bulk_send_whose_workers_are_killed_mid_send_links_every_feature_once(
    cast, rally_sandbox, cluster
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} feature {n}") for n in range(40)]
    # Slow Rally (a drain sends several at once) so that the kill lands in the middle of it.
    rally_sandbox.admin("POST", "/sandbox-admin/faults", json=[{"kind": "latency", "ms": 1000}])
    try:

        def linked() -> int:
            return Link.objects.filter(
                record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
            ).count()

        start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
        wait_until(lambda: linked() >= 2, timeout=90, what="the send under way")
        _signal(_sentinel_children(cluster)[:WORKERS], signal.SIGKILL)
        assert linked() < len(features), "the kill came too late to prove anything"

        wait_until(lambda: linked() == len(features), timeout=120, what="every feature linked")
    finally:
        rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    assert sorted(item["Name"] for item in held) == sorted(f.name for f in features)
    assert "Restarting the task cluster" in cluster.log()
