"""The sync's pages: a record's Integrations menu and its actions, send jobs, and the queue."""

from __future__ import annotations

from django.urls import path

from aharally.sync import views

app_name = "sync"
_record = "w/<str:prefix>/sync/<str:record_type>/<int:record_id>/"
urlpatterns = [
    # Before the record patterns, which would take "jobs" for a record type.
    path("w/<str:prefix>/sync/jobs/<int:job_id>/", views.job, name="job"),
    path(_record, views.record_menu, name="record_menu"),
    path(_record + "send/", views.send, name="send"),
    path(_record + "link/", views.link_existing, name="link"),
    path(_record + "unlink/", views.unlink, name="unlink"),
    path(_record + "retry/", views.retry_record, name="retry"),
    path(
        "w/<str:prefix>/sync/integrations/<int:integration_id>/sync-now/",
        views.sync_now,
        name="sync_now",
    ),
    # Rally signs nothing: the secret in the URL is what proves a delivery comes from the
    # webhook we registered.
    path(
        "integrations/rally/webhook/<int:integration_id>/<str:secret>/",
        views.webhook,
        name="webhook",
    ),
    path("integration-updates/", views.integration_updates, name="integration_updates"),
    path("integration-updates/decide/", views.decide, name="decide"),
]
