from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rally_sandbox.accounts"
    label = "sandbox_accounts"
