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
]

# Error pages inside the site's layout, with the reason when it is one for people.
handler403 = "aharally.errors.permission_denied"
handler404 = "aharally.errors.page_not_found"
handler500 = "aharally.errors.server_error"
