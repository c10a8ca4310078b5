from __future__ import annotations

from django.urls import path, re_path

from rally_sandbox.pigeon import views

app_name = "sandbox_pigeon"

# The older /notifications/api/v2/webhook path appears in one published script: accept both.
urlpatterns = [
    re_path(r"^(?:apps/pigeon|notifications)/api/v2/webhook/?$", views.webhooks, name="webhooks"),
    re_path(
        r"^(?:apps/pigeon|notifications)/api/v2/webhook/(?P<webhook_uuid>[0-9a-fA-F-]{32,36})/?$",
        views.webhook,
        name="webhook",
    ),
    path("sandbox-admin/webhook-deliveries", views.deliveries, name="deliveries"),
    path(
        "sandbox-admin/webhook-deliveries/summary",
        views.deliveries_summary,
        name="deliveries-summary",
    ),
]
