"""The sync's pages: a record's Integrations menu and its actions, send jobs, and the queue."""

from __future__ import annotations

from django.urls import path

from aharally.sync.web import views, views_people, views_reconcile

app_name = "sync"
_record = "w/<str:prefix>/sync/<str:record_type>/<int:record_id>/"
_integration = "w/<str:prefix>/sync/integrations/<int:integration_id>/"
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
    path(_integration + "import/", views_reconcile.import_from_rally, name="import_from_rally"),
    path(_integration + "import/search/", views_reconcile.search_rally, name="search_rally"),
    path(
        _integration + "import/searches/<int:rally_search_id>/",
        views_reconcile.search_results,
        name="search_results",
    ),
    path(
        _integration + "import/searches/<int:rally_search_id>/import/",
        views_reconcile.import_chosen,
        name="import_chosen",
    ),
    path(_integration + "people/", views_people.people_page, name="people"),
    path(_integration + "people/refresh/", views_people.refresh, name="people_refresh"),
    path(_integration + "people/decide/", views_people.decide, name="people_decide"),
    path(_integration + "people/send-owners/", views_people.send_owners, name="people_send_owners"),
    path(_integration + "compare/", views_reconcile.compare_page, name="compare"),
    path(_integration + "compare/start/", views_reconcile.compare_start, name="compare_start"),
    path(
        _integration + "compare/resolve/", views_reconcile.compare_resolve, name="compare_resolve"
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
