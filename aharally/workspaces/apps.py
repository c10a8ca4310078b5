from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "aharally.workspaces"
