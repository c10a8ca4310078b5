from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "rally_sandbox.oauth"
    label = "sandbox_oauth"
