"""Integrations: the wizard (wizard/urls.py) and the report, log and options (urls_manage)."""

from __future__ import annotations

from aharally.integrations.urls_manage import urlpatterns as manage_urlpatterns
from aharally.integrations.wizard.urls import urlpatterns as wizard_urlpatterns

app_name = "integrations"
urlpatterns = [*wizard_urlpatterns, *manage_urlpatterns]
