from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlertsConfig(AppConfig):
    name = "aharally.alerts"

    def ready(self) -> None:
        from aharally.alerts import checks, tasks
        from aharally.integrations.hooks import (
            register_authorized_listener,
            register_lifecycle_listener,
        )
        from aharally.sync.listeners import register_catch_up_listener

        register_lifecycle_listener("needs_reauthorization", tasks.on_needs_reauthorization)
        register_authorized_listener(tasks.on_authorized)
        register_catch_up_listener(checks.note_catch_up)
        post_migrate.connect(tasks.ensure_schedules, sender=self)
