from __future__ import annotations

from django.urls import path

from rally_sandbox.oauth import admin_views, views

app_name = "sandbox_oauth"

urlpatterns = [
    path("login/oauth2/auth", views.authorize, name="authorize"),
    path("login/oauth2/token", views.token, name="token"),
    path("login/oauth2/login", views.login, name="login"),
    path("login/oauth2/logout", views.logout, name="logout"),
    path("login/oauth2/applications", views.applications, name="applications"),
    path("login/oauth2/applications/<int:grant_id>/revoke", views.revoke, name="revoke"),
    path("sandbox-admin/oauth-clients", admin_views.clients, name="admin_clients"),
    path(
        "sandbox-admin/oauth/expire-access-tokens",
        admin_views.expire_access_tokens,
        name="admin_expire_access_tokens",
    ),
]
