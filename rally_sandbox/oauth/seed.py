"""Seed step: the OAuth client of the local aharally (see docs/rally-sandbox.md)."""

from __future__ import annotations

from rally_sandbox.oauth.services import seed_local_client


def seed(context: object) -> None:
    seed_local_client()
