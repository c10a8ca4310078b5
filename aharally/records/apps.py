from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "aharally.records"

    def ready(self) -> None:
        from aharally.records.custom import on_values_changed
        from aharally.workspaces.custom_fields import register_values_listener

        register_values_listener(on_values_changed)
