from __future__ import annotations

from django.http import JsonResponse


def dispatch(request, version, rest):
    return JsonResponse({"OperationResult": {"Errors": ["not yet"], "Warnings": []}})


def schema(request, version, oid):
    return JsonResponse({"QueryResult": {"Results": []}})
