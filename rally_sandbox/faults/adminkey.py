"""The sandbox's admin API (faults, statistics, OAuth helpers) for tests and demos."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

HEADER = "X-Sandbox-Admin-Key"
ADMIN_API_OFF = (
    "The sandbox admin API is off: set RALLY_SANDBOX_ADMIN_KEY to a key of your own. The "
    "documented development key works only in development mode (DEBUG=true, as `make run` "
    "sets)."
)


def admin_key() -> str:
    return settings.RALLY_SANDBOX_ADMIN_KEY


def admin_key_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer 403 unless the request carries the admin key; no cookies, so no CSRF either."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not admin_key():
            return JsonResponse({"error": ADMIN_API_OFF}, status=403)
        sent = request.headers.get(HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), admin_key().encode()):
            return JsonResponse({"error": f"Send the sandbox admin key in {HEADER}."}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


class BadRequest(Exception):
    pass


def json_body(request: HttpRequest, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, or BadRequest with a message a person can act on."""
    if not request.body.strip():
        if allow_empty:
            return {}
        raise BadRequest("Send a JSON body.")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("The body is not valid JSON: it is nested too deeply.") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("The body holds an unpaired surrogate escape (\\ud800…).") from None
    return data


def bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)
