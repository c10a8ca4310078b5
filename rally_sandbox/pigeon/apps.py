from django.apps import AppConfig


class PigeonConfig(AppConfig):
    name = "rally_sandbox.pigeon"
    label = "sandbox_pigeon"

    def ready(self) -> None:
        from rally_sandbox.accounts import generation

        from .models import Webhook

        # The enabled webhooks are cached per generation (matched on every write).
        generation.connect_signals(Webhook)
