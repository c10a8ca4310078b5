from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from aharally.workspaces import views as workspace_views

urlpatterns = [
    path("", workspace_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("aharally.workspaces.urls")),
    path("", include("aharally.records.urls")),
    path("", include("aharally.integrations.urls")),
    path("", include("aharally.sync.urls")),
]
