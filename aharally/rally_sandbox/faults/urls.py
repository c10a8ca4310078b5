from __future__ import annotations

from django.urls import path

from aharally.rally_sandbox.faults import views

app_name = "sandbox_faults"

urlpatterns = [
    path("sandbox-admin/faults", views.faults, name="faults"),
    path("sandbox-admin/stats", views.stats, name="stats"),
    path("sandbox-admin/stats/reset", views.stats_reset, name="stats_reset"),
]
