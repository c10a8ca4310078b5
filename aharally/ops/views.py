"""/healthz, /readyz and /metrics: served by ProbeMiddleware, ahead of the host check and the
https redirect, because probes and scrapers call a container by its own address over plain
http (docs/operations.md)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from aharally.ops import health
from aharally.ops.metrics import render


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: this process answers. Touches nothing else, so a database outage never gets
    a healthy web process restarted."""
    return _no_store(HttpResponse("ok", content_type="text/plain"))


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when every check passes, 503 with each failing check's reason.

    `?check=database` (repeatable, or comma-separated) limits it to some checks.
    """
    asked = [n for value in request.GET.getlist("check") for n in value.split(",") if n]
    unknown = [name for name in asked if name not in health.CHECKS]
    if unknown:
        return JsonResponse(
            {"status": "error", "reason": f"unknown check {unknown[0][:40]!r}"}, status=400
        )
    results = health.readiness(tuple(asked) or health.CHECKS)
    ok = all(check.ok for check in results.values())
    body = {
        "status": "ok" if ok else "fail",
        "checks": {name: check.as_json() for name, check in results.items()},
    }
    return _no_store(JsonResponse(body, status=200 if ok else 503))


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, for `Authorization: Bearer <METRICS_TOKEN>` only (404 unset)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return HttpResponse("Forbidden", status=403, content_type="text/plain")
    return _no_store(HttpResponse(render(), content_type=CONTENT_TYPE_LATEST))


PROBES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}


class ProbeMiddleware:
    """Answers the probe paths before anything checks the Host header or redirects to https."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return view(request)
