"""Read operations: query a type, read one object, read a collection, the schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from rally_sandbox.accounts.models import Subscription
from rally_sandbox.accounts.services import Caller

from . import envelopes, multi_value
from .conversion import attributes_for
from .metadata import TYPE_ROWS
from .models import TypeDefinition
from .query import QueryError, compile_query, oid_from_ref, order_by
from .registry import ATTRIBUTES_BY_OID, SPECS, Attr, TypeSpec, spec_for_object
from .render import (
    API,
    FETCH_ALL,
    Fetch,
    RenderContext,
    parse_fetch,
    render_object,
    select_related_for,
)
from .scope import Scope, ScopeError, resolve_scope


@dataclass
class Call:
    """One WSAPI operation: from an HTTP request, or from an entry of a /batch request."""

    method: str
    segments: list[str]
    params: Any
    body: bytes
    caller: Caller
    base_url: str

    def context(self, workspace=None) -> RenderContext:
        return RenderContext(
            base_url=self.base_url, subscription=self.caller.user.subscription, workspace=workspace
        )

    def fetch(self, default: Fetch | None = None) -> Fetch:
        fetch, shallow = self.params.get("fetch"), self.params.get("shallowFetch")
        if default is not None and not fetch and not shallow:
            return default
        return parse_fetch(fetch, shallow)


class OperationError(Exception):
    pass


MAX_START = 2**31 - 1


def paging(params) -> tuple[int, int]:
    try:
        start = int(params.get("start") or 1)
        pagesize = int(params.get("pagesize") or envelopes.DEFAULT_PAGESIZE)
    except ValueError:
        raise OperationError("Could not parse: start and pagesize must be integers") from None
    if start < 1:
        raise OperationError(f"Could not parse: start index {start} must be 1 or greater")
    if start > MAX_START:
        # Rally's start is a Java int; beyond it no database can offset either.
        raise OperationError(f"Could not parse: start index {start} must be at most {MAX_START}")
    if pagesize < 1:
        raise OperationError(f"Could not parse: pagesize {pagesize} must be 1 or greater")
    if pagesize > envelopes.MAX_PAGESIZE:
        raise OperationError(
            f"Could not parse: The maximum pagesize is {envelopes.MAX_PAGESIZE}; "
            f"{pagesize} was requested."
        )
    return start, pagesize


def attributes_lookup(ctx: RenderContext, workspace_id: int | None):
    def lookup(spec: TypeSpec) -> dict[str, Attr]:
        return {attr.element_name: attr for attr in ctx.attributes(spec, workspace_id)}

    return lookup


def scoped(spec: TypeSpec, caller: Caller, scope: Scope | None) -> QuerySet:
    qs = spec.queryset()
    subscription_id = caller.user.subscription_id
    if spec.scope == "global":
        return qs.filter(pk=subscription_id)
    if spec.scope == "subscription":
        return qs.filter(subscription_id=subscription_id)
    assert scope is not None
    qs = qs.filter(**{spec.workspace_path: scope.workspace.pk})
    if spec.scope == "project" and scope.project_ids is not None:
        qs = qs.filter(project_id__in=scope.project_ids)
    return qs


def run_query(call: Call, spec: TypeSpec, qs: QuerySet, scope: Scope | None, *, default_fetch=None):
    """Filter, order, page and render `qs` as a QueryResult."""
    try:
        start, pagesize = paging(call.params)
    except OperationError as error:
        return envelopes.query_error(str(error))
    workspace = scope.workspace if scope else None
    ctx = call.context(workspace)
    lookup = attributes_lookup(ctx, workspace.pk if workspace else None)
    fetch = call.fetch(default_fetch)
    try:
        condition = compile_query(spec, call.params.get("query"), lookup, workspace)
        annotations, ordering = order_by(spec, call.params.get("order"), lookup, workspace)
    except QueryError as error:
        return envelopes.query_error(str(error), start=start, pagesize=pagesize)
    qs = qs.filter(condition)
    if _joins_many(condition):
        qs = qs.distinct()
    total = qs.count()
    related = select_related_for(spec, fetch)
    page = list(
        qs.annotate(**annotations)
        .order_by(*ordering)
        .select_related(*related)[start - 1 : start - 1 + pagesize]
    )
    ctx.register(page)
    results = [render_object(obj, spec, ctx, fetch) for obj in page]
    return envelopes.query_result(results, total=total, start=start, pagesize=pagesize)


def _joins_many(condition: Q) -> bool:
    many = ("tags__", "milestones__", "children__", "tasks__", "defects__", "user_stories__",
            "projects__", "workspaces__", "iterations__", "releases__", "artifacts__")  # fmt: skip

    def walk(node) -> bool:
        for child in node.children:
            if isinstance(child, Q):
                if walk(child):
                    return True
            elif any(part in child[0] + "__" for part in many):
                return True
        return False

    return walk(condition)


def find_object(spec: TypeSpec, caller: Caller, ident: str):
    oid = oid_from_ref(ident)
    if oid is None:
        return None
    qs = spec.queryset()
    key = {spec.oid_field: oid} if isinstance(oid, int) else {"uuid": oid}
    obj = qs.filter(**key).first()
    if obj is None:
        return None
    if not _same_subscription(obj, caller):
        return None
    return obj


def _same_subscription(obj, caller: Caller) -> bool:
    subscription_id = caller.user.subscription_id
    if isinstance(obj, Subscription):
        return obj.pk == subscription_id
    if hasattr(obj, "workspace_id"):
        return obj.workspace.subscription_id == subscription_id
    if hasattr(obj, "artifact_id"):
        return obj.artifact.workspace.subscription_id == subscription_id
    if hasattr(obj, "subscription_id"):
        return obj.subscription_id == subscription_id
    return obj.pk == subscription_id


def query(call: Call, spec: TypeSpec) -> dict:
    scope = None
    if spec.scope in {"workspace", "project"}:
        try:
            scope = resolve_scope(call.caller.user, call.params)
        except ScopeError as error:
            return envelopes.query_error(str(error))
    qs = scoped(spec, call.caller, scope)
    return run_query(call, spec, qs, scope)


def read(call: Call, spec: TypeSpec, ident: str) -> dict:
    if spec.type_path == "AttributeDefinition":
        return read_attribute_definition(call, ident)
    obj = find_object(spec, call.caller, ident)
    if obj is None:
        return envelopes.operation_result([envelopes.NOT_FOUND])
    return render_single(call, obj, spec)


def render_single(call: Call, obj, spec: TypeSpec, warnings=()) -> dict:
    concrete = spec_for_object(obj, spec)
    ctx = call.context(getattr(obj, "workspace", None))
    ctx.register([obj])
    rendered = render_object(obj, concrete, ctx, call.fetch(FETCH_ALL))
    return envelopes.single(concrete.element_name, rendered, warnings)


def current_singleton(call: Call, spec: TypeSpec) -> dict:
    user = call.caller.user
    obj = user.subscription if spec.type_path == "Subscription" else user
    return render_single(call, obj, spec)


def collection(call: Call, spec: TypeSpec, ident: str, name: str) -> dict:
    if spec.type_path == "AttributeDefinition" and name.lower() == "allowedvalues":
        return allowed_values(call, ident)
    owner = find_object(spec, call.caller, ident)
    if owner is None:
        return envelopes.query_error(envelopes.NOT_FOUND)
    owner_spec = spec_for_object(owner, spec)
    attr = owner_spec.attribute(name) or custom_collection(owner, owner_spec, name)
    if attr is not None and attr.custom:
        values = multi_value.chosen(attr, (owner.custom or {}).get(attr.element_name))
        items = multi_value.value_items(attr, values, call.context(owner.workspace).wsapi)
        return _page_list(call, items)
    if attr is None or not attr.is_collection:
        return envelopes.query_error(
            f"Could not read: {owner_spec.element_name} has no collection {name}"
        )
    if owner_spec.type_path == "TypeDefinition" and attr.element_name == "Attributes":
        return typedef_attributes(call, owner)
    target = SPECS.get(attr.target or "")
    if target is None or attr.members is None:
        return envelopes.query_result([], total=0, start=1, pagesize=_pagesize(call))
    workspace = owner if owner_spec.type_path == "Workspace" else getattr(owner, "workspace", None)
    scope = Scope(workspace, None, None) if workspace is not None else None
    if scope is None and target.scope in {"workspace", "project"}:
        try:
            scope = resolve_scope(call.caller.user, call.params)
        except ScopeError as error:
            return envelopes.query_error(str(error))
    # Without `fetch`, members come back whole: pyral hydrates collection items as complete
    # objects and never lazy-loads their missing fields.
    return run_query(call, target, attr.members(owner), scope, default_fetch=FETCH_ALL)


def custom_collection(owner, spec: TypeSpec, name: str) -> Attr | None:
    """A multi-value drop-down of the owner's workspace named `name` (`c_` optional)."""
    workspace = getattr(owner, "workspace", None)
    if workspace is None or not hasattr(owner, "custom"):
        return None
    wanted = name.lower()
    for attr in attributes_for(spec, workspace).values():
        if multi_value.is_multi_value(attr) and attr.element_name.lower() in {
            wanted,
            f"c_{wanted}",
        }:
            return attr
    return None


def _pagesize(call: Call) -> int:
    try:
        return int(call.params.get("pagesize") or envelopes.DEFAULT_PAGESIZE)
    except ValueError:
        return envelopes.DEFAULT_PAGESIZE


# --- type and attribute definitions ------------------------------------------------------


def attribute_definition(
    ctx: RenderContext, spec: TypeSpec, attr: Attr, workspace, typedefs: dict
) -> dict:
    wsapi = ctx.wsapi
    allowed = attr.allowed_values(workspace)
    if allowed is not None and attr.attribute_type in {"STATE", "RATING", "STRING", "COLLECTION"}:
        allowed_json: Any = {
            **API,
            "_ref": f"{wsapi}/AttributeDefinition/{attr.oid}/AllowedValues",
            "_type": "AllowedAttributeValue",
            "Count": len(allowed),
        }
    else:
        allowed_json = []
    target_typedef = typedefs.get(attr.target or "")
    return {
        **API,
        "_ref": f"{wsapi}/attributedefinition/{attr.oid}",
        "_objectVersion": "1",
        "_refObjectName": attr.display,
        "ObjectID": attr.oid,
        "ElementName": attr.element_name,
        "Name": attr.display,
        "AttributeType": attr.attribute_type,
        "RealAttributeType": attr.attribute_type,
        "SchemaType": _schema_type(attr),
        "Custom": attr.custom,
        "Required": attr.required or _required_by_rule(spec, attr, workspace),
        "ReadOnly": attr.read_only,
        "Filterable": attr.filterable,
        "Sortable": attr.filterable and not attr.is_collection,
        "Hidden": attr.hidden,
        "Constrained": allowed is not None,
        "AllowedValueType": (
            {
                **API,
                "_ref": ctx.ref_url(target_typedef, SPECS["TypeDefinition"]),
                "_refObjectName": target_typedef.name,
                "_type": "TypeDefinition",
            }
            if target_typedef is not None
            else None
        ),
        "AllowedValues": allowed_json,
        "MaxLength": 256
        if attr.attribute_type == "STRING"
        else (32768 if attr.attribute_type == "TEXT" else -1),
        "MaxFractionalDigits": 2 if attr.attribute_type in {"QUANTITY", "DECIMAL"} else -1,
        "Note": "",
        "VisibleOnlyToAdmins": False,
        "_type": "AttributeDefinition",
    }


def _schema_type(attr: Attr) -> str:
    return {
        "STRING": "string",
        "TEXT": "string",
        "INTEGER": "integer",
        "QUANTITY": "decimal",
        "DECIMAL": "decimal",
        "BOOLEAN": "boolean",
        "DATE": "date",
        "STATE": "string",
        "RATING": "string",
    }.get(attr.attribute_type, attr.target or "object")


def _required_by_rule(spec: TypeSpec, attr: Attr, workspace) -> bool:
    if workspace is None:
        return False
    from .models import RequiredField

    rules = getattr(workspace, "_required_rules", None)
    if rules is None:
        rules = set(
            RequiredField.objects.filter(workspace=workspace).values_list(
                "type_path", "element_name"
            )
        )
        workspace._required_rules = rules
    return (spec.type_path, attr.element_name) in rules


def typedef_json(ctx: RenderContext, typedef: TypeDefinition, typedefs: dict) -> dict:
    spec = SPECS[typedef.type_path]
    rendered = render_object(typedef, SPECS["TypeDefinition"], ctx, FETCH_ALL)
    parent = typedefs.get(spec.parent_type or "")
    rendered["Parent"] = (
        {**API, "_ref": ctx.ref_url(parent, SPECS["TypeDefinition"]),
         "_refObjectName": parent.name, "_type": "TypeDefinition"}
        if parent is not None else None
    )  # fmt: skip
    rendered["RevisionHistory"] = None
    rendered["Attributes"] = [
        attribute_definition(ctx, spec, attr, typedef.workspace, typedefs)
        for attr in ctx.attributes(spec, typedef.workspace_id)
    ]
    rendered["_type"] = "TypeDefinition"
    return rendered


def schema(call: Call, workspace) -> dict:
    ctx = call.context(workspace)
    typedefs = {
        td.type_path: td
        for td in TypeDefinition.objects.filter(workspace=workspace).select_related("workspace")
    }
    order = {row.type_path: index for index, row in enumerate(TYPE_ROWS)}
    rows = sorted(typedefs.values(), key=lambda td: order.get(td.type_path, 999))
    ctx.register(rows)
    results = [typedef_json(ctx, td, typedefs) for td in rows if td.type_path in SPECS]
    return envelopes.query_result(results, total=len(results), start=1, pagesize=len(results))


def typedef_attributes(call: Call, typedef: TypeDefinition) -> dict:
    ctx = call.context(typedef.workspace)
    typedefs = {
        td.type_path: td for td in TypeDefinition.objects.filter(workspace=typedef.workspace)
    }
    spec = SPECS.get(typedef.type_path)
    if spec is None:
        return _page_list(call, [])
    items = [
        attribute_definition(ctx, spec, attr, typedef.workspace, typedefs)
        for attr in ctx.attributes(spec, typedef.workspace_id)
    ]
    return _page_list(call, items)


def _page_list(call: Call, items: list[dict]) -> dict:
    try:
        start, pagesize = paging(call.params)
    except OperationError as error:
        return envelopes.query_error(str(error))
    return envelopes.query_result(
        items[start - 1 : start - 1 + pagesize], total=len(items), start=start, pagesize=pagesize
    )


def _attribute_by_oid(call: Call, ident: str):
    oid = oid_from_ref(ident)
    if not isinstance(oid, int):
        return None
    try:
        scope = resolve_scope(call.caller.user, call.params)
    except ScopeError:
        return None
    if oid in ATTRIBUTES_BY_OID:
        spec, attr = ATTRIBUTES_BY_OID[oid]
        return spec, attr, scope.workspace
    from .models import CustomField
    from .render import custom_attr

    field = CustomField.objects.filter(
        object_id=oid, workspace__subscription_id=call.caller.user.subscription_id
    ).first()
    if field is None:
        return None
    return SPECS.get(field.type_path), custom_attr(field), field.workspace


def read_attribute_definition(call: Call, ident: str) -> dict:
    found = _attribute_by_oid(call, ident)
    if found is None:
        return envelopes.operation_result([envelopes.NOT_FOUND])
    spec, attr, workspace = found
    ctx = call.context(workspace)
    typedefs = {td.type_path: td for td in TypeDefinition.objects.filter(workspace=workspace)}
    rendered = attribute_definition(ctx, spec, attr, workspace, typedefs)
    return envelopes.single("AttributeDefinition", rendered)


def allowed_values(call: Call, ident: str) -> dict:
    found = _attribute_by_oid(call, ident)
    if found is None:
        return envelopes.query_error(envelopes.NOT_FOUND)
    _spec, attr, workspace = found
    wsapi = call.context(workspace).wsapi
    values = attr.allowed_values(workspace) or []
    return _page_list(call, multi_value.value_items(attr, values, wsapi, allowed=values))
