from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "aharally.rally_sandbox.accounts"
    label = "sandbox_accounts"
