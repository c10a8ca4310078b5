"""Admin endpoints for tests and demos: required-field rules, custom fields, users."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from rally_sandbox.accounts.people import PeopleError, add_users
from rally_sandbox.faults.adminkey import (
    BadRequest,
    admin_key_required,
    bad_request,
    json_body,
)

from .custom_fields import add_field, list_fields, remove_field
from .required_fields import (
    NoSuchRule,
    RuleError,
    add_rule,
    find_workspace,
    list_rules,
    remove_rule,
)


@admin_key_required
@require_http_methods(["GET", "POST", "DELETE"])
def required_fields(request: HttpRequest) -> HttpResponse:
    """GET lists the rules (`?workspace=` narrows); POST adds one (201); DELETE removes it (204)."""
    try:
        if request.method == "GET":
            name = request.GET.get("workspace")
            workspace = find_workspace(name) if name else None
            return JsonResponse(
                {"required_fields": [rule.as_dict() for rule in list_rules(workspace=workspace)]}
            )
        data = json_body(request)
        if not isinstance(data, dict) or not {"type", "field"} <= set(data):
            raise BadRequest('Send {"workspace": …, "type": …, "field": …}.')
        workspace = find_workspace(data.get("workspace"))
        if request.method == "POST":
            rule, created = add_rule(
                workspace=workspace, type_name=data["type"], field_name=data["field"]
            )
            return JsonResponse(rule.as_dict(), status=201 if created else 200)
        remove_rule(workspace=workspace, type_name=data["type"], field_name=data["field"])
    except RuleError as exc:
        return JsonResponse({"error": str(exc)}, status=404 if isinstance(exc, NoSuchRule) else 400)
    except BadRequest as exc:
        return bad_request(str(exc))
    return HttpResponse(status=204)


@admin_key_required
@require_http_methods(["POST"])
def users(request: HttpRequest) -> HttpResponse:
    """POST {"users": [{"email": …, "first_name": …, "last_name": …}, …]} adds those not
    there yet to the subscription; answers {"created": n}."""
    try:
        data = json_body(request)
        if not isinstance(data, dict) or not isinstance(data.get("users"), list):
            raise BadRequest('Send {"users": [{"email": …}, …]}.')
        created = add_users(data["users"])
    except (BadRequest, PeopleError) as exc:
        return bad_request(str(exc))
    return JsonResponse({"created": created}, status=201 if created else 200)


@admin_key_required
@require_http_methods(["GET", "POST", "DELETE"])
def custom_fields(request: HttpRequest) -> HttpResponse:
    """GET lists the custom fields (`?workspace=` narrows); POST adds one ({"workspace", "type",
    "name", "kind", "allowed_values", "required"}; 201, or 200 when it was there);
    DELETE removes one ({"workspace", "type", "field"}; 204)."""
    try:
        if request.method == "GET":
            name = request.GET.get("workspace")
            workspace = find_workspace(name) if name else None
            return JsonResponse(
                {"custom_fields": [f.as_dict() for f in list_fields(workspace=workspace)]}
            )
        data = json_body(request)
        if not isinstance(data, dict) or "type" not in data:
            raise BadRequest('Send {"workspace": …, "type": …, "name": …, "kind": …}.')
        workspace = find_workspace(data.get("workspace"))
        if request.method == "POST":
            field, created = add_field(
                workspace=workspace,
                type_name=data["type"],
                name=data.get("name", ""),
                kind=data.get("kind", ""),
                allowed_values=data.get("allowed_values"),
                required=bool(data.get("required", False)),
            )
            return JsonResponse(field.as_dict(), status=201 if created else 200)
        remove_field(workspace=workspace, type_name=data["type"], field_name=data.get("field", ""))
    except RuleError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except BadRequest as exc:
        return bad_request(str(exc))
    return HttpResponse(status=204)
