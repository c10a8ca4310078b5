from django.apps import AppConfig


class FaultsConfig(AppConfig):
    name = "aharally.rally_sandbox.faults"
    label = "sandbox_faults"
