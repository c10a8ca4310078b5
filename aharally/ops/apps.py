from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running aharally in production: health endpoints, metrics, log context, heartbeats."""

    name = "aharally.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import logging

        from django.conf import settings

        from aharally.integrations.report import register_cluster_notice, register_health
        from aharally.observability import instruments, logcontext
        from aharally.ops import health, lag
        from aharally.sync.listeners import register_catch_up_listener

        if settings.LOG_FORMAT == "json":
            # Python's warnings print to stderr as they are: through logging, they are JSON too.
            logging.captureWarnings(True)

        # The Rally client knows nothing of Django; it tells observers of each request.
        instruments.install()
        logcontext.connect_signals()
        # The integrations' pages say when the task cluster is down or stuck.
        register_cluster_notice(health.cluster_notice)
        # Lags each way and recent health on the integrations' pages; the catch-up's lags.
        register_health(lag.health_of)
        register_catch_up_listener(lag.note_catch_up)
