"""Admin endpoints: inject and clear faults, read and reset the concurrency statistics."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from rally_sandbox.faults.adminkey import (
    BadRequest,
    admin_key_required,
    bad_request,
    json_body,
)
from rally_sandbox.faults.registry import REGISTRY, STATS, FaultError


@admin_key_required
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            added = REGISTRY.add_many(json_body(request))
        except (BadRequest, FaultError) as exc:
            return bad_request(str(exc))
        return JsonResponse({"added": [fault.as_dict() for fault in added]}, status=201)
    if request.method == "DELETE":
        return JsonResponse({"cleared": REGISTRY.clear()})
    return JsonResponse({"faults": REGISTRY.list()})


@admin_key_required
@require_http_methods(["GET"])
def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse(STATS.snapshot())


@admin_key_required
@require_POST
def stats_reset(request: HttpRequest) -> JsonResponse:
    STATS.reset()
    return JsonResponse(STATS.snapshot())
