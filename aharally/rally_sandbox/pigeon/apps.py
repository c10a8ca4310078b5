from django.apps import AppConfig


class PigeonConfig(AppConfig):
    name = "aharally.rally_sandbox.pigeon"
    label = "sandbox_pigeon"
