from __future__ import annotations

from django.apps import AppConfig


class ConcurrencyConfig(AppConfig):
    """Slots shared by every process: the cross-process cap on Rally requests in flight."""

    name = "aharally.concurrency"
    verbose_name = "Concurrency"
