"""A real `manage.py qcluster` takes a task the moment it is queued, and stops at once, with
no poll to wait for: its poller looks at the queue only when woken (NOTIFY on PostgreSQL, a
socket on SQLite) or every Q_POLL_MS, here ten minutes, longer than any bound below."""

from __future__ import annotations

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.tasks import async_task

from aharally.taskcluster.wakeups import socket_directory
from tests.sync.cluster import TaskCluster
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Bounds, not measurements: a tiny fraction of the ten-minute poll, and the task taken
# before the sentinel's scheduler (30 s after the start) could wake the poller itself.
TAKEN_WITHIN_S = 10
STOPPED_WITHIN_S = 15


def test_a_queued_task_wakes_an_idle_cluster_and_a_stop_wakes_its_poller(tmp_path):
    cluster = TaskCluster(env={"Q_POLL_MS": "600000"}).start()
    try:
        # The cluster's first look has passed once its worker has run a first task: from then
        # on, only a wake-up brings it back to the queue within the bounds.
        first, second = tmp_path / "first", tmp_path / "second"
        async_task("tests.qcluster_tasks.mark", str(first))
        wait_until(first.exists, timeout=TAKEN_WITHIN_S, what="the first task to run")

        async_task("tests.qcluster_tasks.mark", str(second))

        wait_until(second.exists, timeout=TAKEN_WITHIN_S, what="the woken cluster to run it")
    finally:
        stopped = cluster.stop(within=STOPPED_WITHIN_S)
    assert stopped, cluster.log()[-3000:]
    if connection.vendor == "sqlite":  # the stopped poller took its socket away, and the
        # directory with it (no other listens on this database)
        directory = socket_directory(connection.settings_dict["NAME"], get_broker().list_key)
        assert not directory.exists()
