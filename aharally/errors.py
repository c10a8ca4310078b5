"""The error pages (403, 404, 500, CSRF failure), inside the site's layout with a way back,
and a sign-in asked for by an HTMX request made a whole-page visit.

A reason is shown when a view gave one for people (PermissionDenied("Your role …"),
Http404("No such feature.")); Django's own 404 for an unknown URL carries the URL patterns
tried, which is not for people, so it is not shown.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.template import loader
from django.urls import Resolver404
from django_htmx.http import HttpResponseClientRedirect


def _reason(exception: Exception | None) -> str:
    if exception is None or isinstance(exception, Resolver404):
        return ""
    text = str(exception) if exception.args else ""
    # Exceptions raised with a dict or a list (Django internals) are not messages.
    return text if exception.args and isinstance(exception.args[0], str) else ""


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "404.html",
        {"reason": _reason(exception) or "There is nothing at this address."},
        status=404,
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "403.html",
        {"reason": _reason(exception) or "You may not do this."},
        status=403,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: whatever failed may be what they need (the database, say).
    html = loader.get_template("500.html").render({"request": request})
    return HttpResponse(html, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)


class SignInAsAPage:
    """A session that ended under an HTMX request (a boosted wizard step, a settings form)
    gets the sign-in page as a whole page (HX-Redirect), not swapped into the fragment the
    request was for, where it could not be used."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response["Location"].startswith(resolve_url(settings.LOGIN_URL))
        ):
            return HttpResponseClientRedirect(response["Location"])
        return response
