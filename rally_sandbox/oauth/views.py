"""Rally's OAuth pages and endpoints: /login/oauth2/auth, /login/oauth2/token, sign-in, apps."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from rally_sandbox.oauth import services
from rally_sandbox.oauth.models import Grant
from rally_sandbox.oauth.services import OAuthError
from rally_sandbox.oauth.sessions import (
    authenticate_user,
    sign_in,
    sign_out,
    signed_in_user,
)

AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state")


def _with_query(uri: str, **params: str | None) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _login_url(next_url: str) -> str:
    return f"{reverse('sandbox_oauth:login')}?{urlencode({'next': next_url})}"


# Consent and sign-in must not be framed by another site (clickjacking).
@xframe_options_deny
@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    values = {name: params.get(name, "") for name in AUTHORIZE_PARAMS}
    try:
        client = services.client_for_authorization(
            client_id=values["client_id"], redirect_uri=values["redirect_uri"]
        )
    except OAuthError as exc:
        # The redirect URI is not trusted, so the error is shown here rather than sent there.
        return render(request, "oauth/error.html", {"error": exc}, status=400)

    state = values["state"] or None
    if values["response_type"] != "code":
        return HttpResponseRedirect(
            _with_query(
                values["redirect_uri"],
                error="unsupported_response_type",
                error_description="response_type must be code",
                state=state,
            )
        )
    try:
        scope = services.normalise_scope(values["scope"])
    except OAuthError as exc:
        return HttpResponseRedirect(
            _with_query(
                values["redirect_uri"],
                error=exc.code,
                error_description=exc.description,
                state=state,
            )
        )

    user = signed_in_user(request)
    if user is None:
        auth_url = f"{reverse('sandbox_oauth:authorize')}?{urlencode(values)}"
        return redirect(_login_url(auth_url))

    if request.method == "GET":
        return render(
            request,
            "oauth/consent.html",
            {"client": client, "user": user, "scope": scope, "params": values},
        )

    if request.POST.get("decision") != "allow":
        return HttpResponseRedirect(
            _with_query(
                values["redirect_uri"],
                error="access_denied",
                error_description="The user denied access.",
                state=state,
            )
        )
    code = services.issue_code(
        client=client, user=user, redirect_uri=values["redirect_uri"], scope=scope
    )
    return HttpResponseRedirect(_with_query(values["redirect_uri"], code=code, state=state))


def _safe_next(request: HttpRequest, next_url: str | None) -> str:
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return reverse("sandbox_oauth:applications")


@xframe_options_deny
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = None
    login_value = ""
    if request.method == "POST":
        login_value = request.POST.get("username", "")
        user = authenticate_user(login=login_value, password=request.POST.get("password", ""))
        if user is not None:
            sign_in(request, user)
            return HttpResponseRedirect(next_url)
        error = "Your username or password is incorrect."
    return render(
        request,
        "oauth/login.html",
        {"next": next_url, "error": error, "login_value": login_value},
        status=401 if error else 200,
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next"))
    sign_out(request)
    return HttpResponseRedirect(next_url)


@xframe_options_deny
@never_cache
@require_http_methods(["GET"])
def applications(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    if user is None:
        return redirect(_login_url(request.get_full_path()))
    return render(
        request,
        "oauth/applications.html",
        {"user": user, "grants": services.active_grants(user=user)},
    )


@require_POST
def revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    user = signed_in_user(request)
    if user is None:
        return redirect(_login_url(reverse("sandbox_oauth:applications")))
    # Someone else's grant is as good as missing.
    grant = get_object_or_404(Grant, pk=grant_id, user=user, revoked__isnull=True)
    services.revoke_grant(grant=grant)
    return redirect("sandbox_oauth:applications")


def _token_error(exc: OAuthError) -> JsonResponse:
    # Rally's error body also echoes client_id/client_secret as null.
    response = JsonResponse(
        {
            "error": exc.code,
            "error_description": exc.description,
            "client_id": None,
            "client_secret": None,
        },
        status=exc.status,
    )
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="oauth"'
    response["Cache-Control"] = "no-store"
    return response


def _client_credentials(request: HttpRequest) -> tuple[str | None, str | None]:
    """HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) wins over form fields."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(
                "invalid_client", "Malformed HTTP Basic credentials.", status=401
            ) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "Malformed HTTP Basic credentials.", status=401)
        return unquote(client_id), unquote(secret)
    return request.POST.get("client_id"), request.POST.get("client_secret")


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    try:
        client_id, client_secret = _client_credentials(request)
        client = services.authenticate_client(client_id=client_id, client_secret=client_secret)
        grant_type = request.POST.get("grant_type", "")
        if grant_type == "authorization_code":
            issued = services.exchange_code(
                client=client,
                code=request.POST.get("code", ""),
                redirect_uri=request.POST.get("redirect_uri"),
            )
        elif grant_type == "refresh_token":
            issued = services.refresh_tokens(
                client=client, refresh_token=request.POST.get("refresh_token", "")
            )
        else:
            raise OAuthError(
                "invalid_grant",
                "Invalid value for grant_type params - must be authorization_code or refresh_token",
            )
    except OAuthError as exc:
        return _token_error(exc)
    response = JsonResponse(issued.as_response())
    response["Cache-Control"] = "no-store"
    return response
