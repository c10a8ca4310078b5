"""The pigeon API (/apps/pigeon/api/v2/webhook) and an admin view of deliveries."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rally_sandbox.accounts.services import AuthenticationFailed, authenticate
from rally_sandbox.faults.adminkey import admin_key_required
from rally_sandbox.pigeon import services, worker
from rally_sandbox.pigeon.models import Delivery, Webhook

MAX_PAGE_SIZE = 2000
ORDER_FIELDS = {
    "Name": "name",
    "CreationDate": "creation_date",
    "LastUpdateDate": "last_update_date",
    "ObjectUUID": "uuid",
}

UNAUTHORIZED = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>
<title>Error 401 Full authentication is required to access this resource</title>
</head>
<body><h2>HTTP ERROR 401</h2>
<p>Problem accessing {path}. Reason:
<pre>    Full authentication is required to access this resource</pre></p><hr><i><small>Powered by Jetty://</small></i><hr/>

</body>
</html>
"""


def _errors(status: int, *messages: str) -> JsonResponse:
    return JsonResponse({"Errors": list(messages), "Warnings": []}, status=status)


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def webhook_admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """API key or OAuth token of a subscription administrator, as Rally requires."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            caller = authenticate(request)
        except AuthenticationFailed:
            caller = None
        # Basic auth is reportedly not accepted by pigeon; only keys and tokens are.
        if caller is None or caller.method == "basic":
            body = UNAUTHORIZED.format(path=request.path)
            return HttpResponse(body, status=401, content_type="text/html;charset=utf-8")
        if not caller.user.subscription_admin:
            return _errors(403, "Only subscription administrators can manage webhooks.")
        if not caller.user.subscription.webhooks_enabled:
            return _errors(403, "Webhooks are disabled for this subscription.")
        if caller.read_only and request.method not in ("GET", "HEAD"):
            return _errors(403, "This API key is read-only.")
        request.sandbox_caller = caller
        return view(request, *args, **kwargs)

    return wrapper


def _body(request: HttpRequest) -> Any:
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise services.WebhookError(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise services.WebhookError("The body is not valid JSON: nested too deeply.") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise services.WebhookError(
            "The body is not valid JSON: a string holds an unpaired surrogate escape."
        ) from None
    return data


def _positive(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name)
    if value in (None, ""):
        return default
    # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
    if not value.isdecimal() or len(value) > 10 or not 1 <= int(value) <= 2**31 - 1:
        raise services.WebhookError(f"{name} must be a whole number from 1 to {2**31 - 1}.")
    return int(value)


@webhook_admin_required
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> JsonResponse:
    caller = request.sandbox_caller
    base = _base_url(request)
    if request.method == "POST":
        try:
            webhook = services.create_webhook(owner=caller.user, data=_body(request))
        except services.WebhookError as exc:
            return _errors(400, str(exc))
        return JsonResponse(services.webhook_json(webhook, base_url=base), status=201)

    try:
        start = _positive(request, "start", 1)
        page_size = _positive(request, "pagesize", 200)
    except services.WebhookError as exc:
        return _errors(400, str(exc))
    if page_size > MAX_PAGE_SIZE:
        return _errors(400, f"pagesize must be at most {MAX_PAGE_SIZE}.")
    order = []
    for part in (request.GET.get("order") or "Name").split(","):
        field, _, direction = part.strip().partition(" ")
        if field not in ORDER_FIELDS:
            return _errors(400, f"Cannot order by {field!r}.")
        prefix = "-" if direction.strip().lower() == "desc" else ""
        order.append(prefix + ORDER_FIELDS[field])
    rows = Webhook.objects.filter(subscription=caller.user.subscription).select_related(
        "subscription", "owner"
    )
    total = rows.count()
    page = rows.order_by(*order, "id")[start - 1 : start - 1 + page_size]
    return JsonResponse(
        {
            "PageSize": page_size,
            "StartIndex": start,
            "TotalResultCount": total,
            "Results": [services.webhook_json(w, base_url=base) for w in page],
        }
    )


@webhook_admin_required
@require_http_methods(["GET", "PATCH", "PUT", "DELETE"])
def webhook(request: HttpRequest, webhook_uuid: str) -> HttpResponse:
    caller = request.sandbox_caller
    found = (
        Webhook.objects.filter(subscription=caller.user.subscription, uuid=webhook_uuid)
        .select_related("subscription", "owner")
        .first()
    )
    if found is None:
        return _errors(404, f"Webhook {webhook_uuid} not found.")
    if request.method == "DELETE":
        found.delete()
        return HttpResponse(status=204)
    if request.method in ("PATCH", "PUT"):
        try:
            found = services.update_webhook(webhook=found, data=_body(request))
        except services.WebhookError as exc:
            return _errors(400, str(exc))
    return JsonResponse(services.webhook_json(found, base_url=_base_url(request)))


@admin_key_required
@require_http_methods(["GET"])
def deliveries(request: HttpRequest) -> JsonResponse:
    """Every queued delivery with each attempt, newest first (for tests and demos)."""
    rows = (
        Delivery.objects.select_related("webhook")
        .prefetch_related("attempt_log")
        .order_by("-id")[:500]
    )
    return JsonResponse(
        {
            "deliveries": [
                {
                    "webhook": str(d.webhook.uuid),
                    "message_id": str(d.message_id),
                    "action": d.action,
                    "object_type": d.object_type,
                    "object_id": d.object_id,
                    "status": d.status,
                    "attempts": [
                        {
                            "number": a.number,
                            "status_code": a.status_code,
                            "error": a.error,
                            "duration_ms": a.duration_ms,
                        }
                        for a in d.attempt_log.all()
                    ],
                }
                for d in rows
            ]
        }
    )


@admin_key_required
@require_http_methods(["GET"])
def deliveries_summary(request: HttpRequest) -> JsonResponse:
    """How many deliveries are pending, delivered and given up, and which thread of which
    process sends them (for a bench that counts their CPU apart from the API's)."""
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    return JsonResponse(
        {
            **{status: counts.get(status, 0) for status in Delivery.Status.values},
            "delivery_thread": {"pid": os.getpid(), "tid": worker.delivery_thread_id},
        }
    )
