from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's own sandbox (tests/conftest.py), as in tests/sync: these tests run the sync
    with a real task cluster (`task_cluster`); their webhooks are removed after each test."""
    return sync_sandbox
