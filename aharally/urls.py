from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from aharally.workspaces import views as workspace_views

# The admin signs in through allauth (its throttling); its own login form is never offered.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", workspace_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("aharally.workspaces.urls")),
    path("", include("aharally.records.urls")),
    path("", include("aharally.integrations.urls")),
]
