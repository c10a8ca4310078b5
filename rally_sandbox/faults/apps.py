from django.apps import AppConfig


class FaultsConfig(AppConfig):
    name = "rally_sandbox.faults"
    label = "sandbox_faults"
