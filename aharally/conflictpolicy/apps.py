from django.apps import AppConfig


class ConflictPolicyConfig(AppConfig):
    name = "aharally.conflictpolicy"
