from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "aharally.integrations"

    def ready(self) -> None:
        from aharally.integrations import checks  # noqa: F401 (registers the system checks)
