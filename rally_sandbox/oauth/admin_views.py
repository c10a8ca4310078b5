"""Admin endpoints for tests and demos: register clients, expire access tokens on demand."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from rally_sandbox.faults.adminkey import (
    BadRequest,
    admin_key_required,
    bad_request,
    json_body,
)
from rally_sandbox.oauth import services
from rally_sandbox.oauth.models import Client


def _client_json(client: Client) -> dict:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uri_list,
    }


@admin_key_required
@require_http_methods(["GET", "POST"])
def clients(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"clients": [_client_json(c) for c in Client.objects.all()]})
    try:
        data = json_body(request)
    except BadRequest as exc:
        return bad_request(str(exc))
    if not isinstance(data, dict):
        return bad_request("Send a JSON object.")
    redirect_uris = data.get("redirect_uris")
    if isinstance(redirect_uris, str):
        redirect_uris = [redirect_uris]
    fields = (data.get("client_id"), data.get("client_secret"), data.get("name"))
    if not all(isinstance(value, str) for value in fields) or not (
        isinstance(redirect_uris, list) and all(isinstance(uri, str) for uri in redirect_uris)
    ):
        return bad_request(
            "Send client_id, client_secret and name as strings and redirect_uris as a list."
        )
    try:
        client = services.register_client(
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            name=data["name"],
            redirect_uris=redirect_uris,
        )
    except services.ClientRegistrationError as exc:
        return bad_request(str(exc))
    return JsonResponse(_client_json(client), status=201)


@admin_key_required
@require_POST
def expire_access_tokens(request: HttpRequest) -> JsonResponse:
    try:
        data = json_body(request, allow_empty=True)
    except BadRequest as exc:
        return bad_request(str(exc))
    if not isinstance(data, dict) or set(data) - {"client_id", "username"}:
        return bad_request("Send {} or an object with client_id and/or username.")
    expired = services.expire_access_tokens(
        client_id=data.get("client_id"), username=data.get("username")
    )
    return JsonResponse({"expired": expired})
