from django.apps import AppConfig


class PigeonConfig(AppConfig):
    name = "rally_sandbox.pigeon"
    label = "sandbox_pigeon"
