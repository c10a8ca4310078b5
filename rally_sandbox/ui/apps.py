from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "rally_sandbox.ui"
    label = "sandbox_ui"
