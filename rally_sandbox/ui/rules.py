"""The administrator's page of required-field rules: which attributes a workspace requires."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from rally_sandbox.accounts.models import Workspace
from rally_sandbox.faults.page import subscription_admin_required
from rally_sandbox.wsapi.required_fields import (
    RuleError,
    add_rule,
    creatable_type_paths,
    find_workspace,
    list_rules,
    remove_rule,
)


def _page(request: HttpRequest, *, error: str = "", data=None, status: int = 200) -> HttpResponse:
    workspaces = Workspace.objects.filter(
        subscription_id=request.sandbox_user.subscription_id
    ).order_by("name")
    return render(
        request,
        "ui/required_fields.html",
        {
            "user": request.sandbox_user,
            "rules": list_rules(),
            "workspaces": workspaces,
            "types": creatable_type_paths(),
            "error": error,
            "data": data or {},
        },
        status=status,
    )


def posted_workspace(request: HttpRequest) -> Workspace:
    """The workspace a subscription administrator's form names, in their subscription."""
    workspace = find_workspace(request.POST.get("workspace", ""))
    if workspace.subscription_id != request.sandbox_user.subscription_id:
        raise RuleError("That workspace belongs to another subscription.")
    return workspace


@require_GET
@subscription_admin_required
def required_fields(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@subscription_admin_required
def add(request: HttpRequest) -> HttpResponse:
    try:
        rule, created = add_rule(
            workspace=posted_workspace(request),
            type_name=request.POST.get("type", ""),
            field_name=request.POST.get("field", ""),
        )
    except RuleError as exc:
        return _page(request, error=str(exc), data=request.POST, status=400)
    verb = "now requires" if created else "already required"
    messages.success(request, f"{rule.workspace} {verb} {rule.type_path}.{rule.element_name}.")
    return redirect("sandbox_ui:required_fields")


@require_POST
@subscription_admin_required
def remove(request: HttpRequest) -> HttpResponse:
    try:
        rule = remove_rule(
            workspace=posted_workspace(request),
            type_name=request.POST.get("type", ""),
            field_name=request.POST.get("field", ""),
        )
    except RuleError as exc:
        return _page(request, error=str(exc), status=400)
    messages.success(
        request, f"{rule.workspace} no longer requires {rule.type_path}.{rule.element_name}."
    )
    return redirect("sandbox_ui:required_fields")
