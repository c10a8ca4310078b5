from __future__ import annotations

# The sync's fixtures: its own sandbox, a real task cluster, webhooks removed after each test.
from tests.sync.conftest import _forget_webhooks_after, rally_sandbox, task_cluster  # noqa: F401
