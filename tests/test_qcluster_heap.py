"""A worker of `manage.py qcluster` starts with the heap it was forked with frozen: its garbage
collector never walks Django and the app again (aharally/taskcluster/supervisor.py)."""

from __future__ import annotations

import pytest
from django_q.tasks import async_task

from tests.sync.cluster import TaskCluster
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Django and the app are some 80,000 objects once set up; a worker forked without a freeze
# has none frozen.
FROZEN_AT_LEAST = 20_000


def test_a_worker_runs_with_the_heap_it_was_forked_with_frozen(tmp_path):
    cluster = TaskCluster().start()
    try:
        path = tmp_path / "frozen"
        async_task("tests.qcluster_tasks.frozen", str(path))
        wait_until(path.exists, timeout=30, what="the task to run")
    finally:
        cluster.stop()
    assert int(path.read_text()) >= FROZEN_AT_LEAST
