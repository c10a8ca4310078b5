from django.apps import AppConfig


class WsapiConfig(AppConfig):
    name = "rally_sandbox.wsapi"
    label = "sandbox_wsapi"
