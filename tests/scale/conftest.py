from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's own sandbox (tests/conftest.py): these tests create hundreds of features.
    Their webhooks are removed after each test, as the sync's are."""
    return sync_sandbox


@pytest.fixture
def on_postgresql():
    """Several clusters on one database need PostgreSQL: run in `make pytest-postgres`."""
    assert connection.vendor == "postgresql", (
        "this test needs PostgreSQL: run it under scripts/with-postgres (make pytest-postgres)"
    )


@pytest.fixture
def clusters():
    """Start clusters with `clusters(n, **options)`; every one is stopped (or killed) after."""
    from tests.sync.cluster import TaskCluster

    started: list[TaskCluster] = []

    def start(count: int, **options) -> list[TaskCluster]:
        batch = [TaskCluster(name=f"c{len(started) + n}", **options) for n in range(count)]
        for cluster in batch:
            cluster.start()
        started.extend(batch)
        return batch

    yield start
    for cluster in started:
        cluster.stop()
