from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "aharally.rally_sandbox.oauth"
    label = "sandbox_oauth"
