"""Demo work items for the Engineering workspace: a small portfolio with stories and tasks."""

from __future__ import annotations


def seed_demo_artifacts(context) -> None:
    """Filled in with the write services; kept as a step so the seed order is fixed."""
