from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "aharally.workspaces"

    def ready(self) -> None:
        # Connects the allauth signal receivers that accept invitations.
        from aharally.workspaces import receivers  # noqa: F401
