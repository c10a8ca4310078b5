from __future__ import annotations

import pytest

from tests.sync.cluster import TaskCluster


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's tests talk to their own sandbox (see tests/conftest.py)."""
    return sync_sandbox


@pytest.fixture
def task_cluster(transactional_db):
    """A running django-q2 cluster on this test's database; stopped (or killed) after."""
    cluster = TaskCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()
