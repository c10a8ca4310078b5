from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from aharally import home
from aharally.workspaces import urls as workspace_urls


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says; the icon is a static SVG."""
    return redirect(static("favicon.svg"), permanent=True)


# The admin signs in through allauth (its throttling); its own login form is never offered.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", home.home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    # Workspace creation is in the workspaces namespace, its view above records (home.py).
    path(
        "",
        include(
            (
                [
                    path("workspaces/new/", home.create, name="create"),
                    *workspace_urls.urlpatterns,
                ],
                workspace_urls.app_name,
            )
        ),
    ),
    path("", include("aharally.records.urls")),
    path("", include("aharally.discussion.urls")),
    path("", include("aharally.integrations.urls")),
    path("", include("aharally.sync.web.urls")),
    path("", include("aharally.alerts.urls")),
]

# Error pages inside the site's layout, with the reason when it is one for people.
handler403 = "aharally.errors.permission_denied"
handler404 = "aharally.errors.page_not_found"
handler500 = "aharally.errors.server_error"
