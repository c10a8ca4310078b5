from __future__ import annotations

from django.urls import path

from rally_sandbox.faults import page, views

app_name = "sandbox_faults"

urlpatterns = [
    path("sandbox-admin/faults", views.faults, name="faults"),
    path("sandbox-admin/stats", views.stats, name="stats"),
    path("sandbox-admin/stats/reset", views.stats_reset, name="stats_reset"),
    # The same for a person in a browser (a signed-in subscription administrator).
    path("sandbox/faults", page.page, name="page"),
    path("sandbox/faults/add", page.add, name="add"),
    path("sandbox/faults/clear", page.clear, name="clear"),
    path("sandbox/faults/reset-stats", page.reset_stats, name="reset_stats"),
]
