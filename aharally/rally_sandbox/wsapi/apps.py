from django.apps import AppConfig


class WsapiConfig(AppConfig):
    name = "aharally.rally_sandbox.wsapi"
    label = "sandbox_wsapi"
