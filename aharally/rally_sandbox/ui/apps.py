from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "aharally.rally_sandbox.ui"
    label = "sandbox_ui"
