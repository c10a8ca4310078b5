from __future__ import annotations

from django.apps import AppConfig


class TaskclusterConfig(AppConfig):
    """Runs the django-q2 task cluster (`manage.py qcluster`); listed before django_q."""

    name = "aharally.taskcluster"
    verbose_name = "Task cluster"
