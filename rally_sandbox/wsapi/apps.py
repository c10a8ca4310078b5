from django.apps import AppConfig


class WsapiConfig(AppConfig):
    name = "rally_sandbox.wsapi"
    label = "sandbox_wsapi"

    def ready(self) -> None:
        from rally_sandbox.accounts import generation

        from .models import CustomField, RequiredField, State, TypeDefinition

        # Cached per generation: a workspace's custom fields, rules, states and types.
        generation.connect_signals(CustomField, RequiredField, State, TypeDefinition)
