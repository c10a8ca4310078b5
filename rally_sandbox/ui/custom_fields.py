"""The administrator's page of custom fields: a workspace's own attributes per type."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from rally_sandbox.accounts.models import Workspace
from rally_sandbox.faults.page import subscription_admin_required
from rally_sandbox.ui.rules import posted_workspace
from rally_sandbox.wsapi.custom_fields import KINDS, add_field, list_fields, remove_field
from rally_sandbox.wsapi.required_fields import RuleError, creatable_type_paths

KIND_LABELS = {
    "STRING": "String",
    "TEXT": "Text",
    "INTEGER": "Integer",
    "DECIMAL": "Decimal",
    "DATE": "Date",
    "BOOLEAN": "Boolean",
    "DROP_DOWN": "Drop-down list",
    "MULTI_DROP_DOWN": "Drop-down list (multi-value)",
    "USER": "User",
}


def _page(request: HttpRequest, *, error: str = "", data=None, status: int = 200) -> HttpResponse:
    subscription = request.sandbox_user.subscription_id
    workspaces = Workspace.objects.filter(subscription_id=subscription).order_by("name")
    fields = [f for f in list_fields() if f.workspace in {w.name for w in workspaces}]
    return render(
        request,
        "ui/custom_fields.html",
        {
            "user": request.sandbox_user,
            "fields": fields,
            "workspaces": workspaces,
            "types": creatable_type_paths(),
            "kinds": [(kind, KIND_LABELS[kind]) for kind in KINDS],
            "error": error,
            "data": data or {},
        },
        status=status,
    )


@require_GET
@subscription_admin_required
def custom_fields(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@subscription_admin_required
def add(request: HttpRequest) -> HttpResponse:
    try:
        field, created = add_field(
            workspace=posted_workspace(request),
            type_name=request.POST.get("type", ""),
            name=request.POST.get("name", ""),
            kind=request.POST.get("kind", ""),
            allowed_values=request.POST.get("allowed_values", ""),
            required=request.POST.get("required") == "on",
        )
    except RuleError as exc:
        return _page(request, error=str(exc), data=request.POST, status=400)
    verb = "Added" if created else "Updated"
    where = f"{field.type_path}.{field.element_name}"
    messages.success(request, f"{verb} {where} in {field.workspace}.")
    return redirect("sandbox_ui:custom_fields")


@require_POST
@subscription_admin_required
def remove(request: HttpRequest) -> HttpResponse:
    try:
        field = remove_field(
            workspace=posted_workspace(request),
            type_name=request.POST.get("type", ""),
            field_name=request.POST.get("field", ""),
        )
    except RuleError as exc:
        return _page(request, error=str(exc), status=400)
    where = f"{field.type_path}.{field.element_name}"
    messages.success(request, f"Removed {where} from {field.workspace}.")
    return redirect("sandbox_ui:custom_fields")
