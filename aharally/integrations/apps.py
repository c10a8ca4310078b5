from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "aharally.integrations"

    def ready(self) -> None:
        from aharally.integrations import (
            checks,  # noqa: F401 (registers the system checks)
            value_map_news,
        )
        from aharally.integrations.shared_fields import on_definitions_changed
        from aharally.workspaces.custom_fields import register_definitions_listener

        register_definitions_listener(on_definitions_changed)
        # A choice added to a mapped field takes Rally's value of its name at once.
        register_definitions_listener(value_map_news.on_definitions_changed)
