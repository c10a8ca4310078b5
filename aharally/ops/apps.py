from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running aharally in production: health endpoints, metrics, log context, heartbeats."""

    name = "aharally.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aharally.ops import instruments, logcontext

        # The Rally client knows nothing of Django; it tells observers of each request.
        instruments.install()
        logcontext.connect_task_signals()
