from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rally_sandbox.accounts"
    label = "sandbox_accounts"

    def ready(self) -> None:
        from . import generation
        from .models import ApiKey, Project, Subscription, User, Workspace

        # Cached per generation: API keys with their users, scopes (generation.py).
        generation.connect_signals(Subscription, Workspace, Project, User, ApiKey)
