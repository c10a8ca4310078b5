from django.apps import AppConfig


class StatusmapConfig(AppConfig):
    name = "aharally.statusmap"
