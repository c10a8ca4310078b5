"""WSAPI write operations over HTTP: create, update, delete, collection add/remove, /batch."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from django.db import transaction
from django.http import QueryDict

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.services import security_token_is_valid

from . import envelopes, multi_value
from .conversion import FieldConverter, attributes_for
from .models import Artifact
from .reads import Call, custom_collection, find_object
from .registry import SPECS, TypeSpec, spec_for_name, spec_for_object
from .render import FETCH_ALL, render_object
from .scope import ScopeError, resolve_scope
from .services import WriteError, change_members, delete_object, rank, save_object


class BadRequest(Exception):
    pass


def _key_error(call: Call) -> str | None:
    """Basic-auth writes need the `key` from /security/authorize; API keys and OAuth do not."""
    if call.caller.method != "basic":
        return None
    if security_token_is_valid(user=call.caller.user, token=call.params.get("key")):
        return None
    return envelopes.INVALID_KEY


def load_json(body: bytes):
    """The request body as JSON, or BadRequest worded as Rally words an unreadable body."""
    try:
        data = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"{UNREADABLE}: {error}") from None
    except RecursionError:
        raise BadRequest(f"{UNREADABLE}: the document is nested too deeply") from None
    try:
        # A \ud800-style escape decodes to a lone surrogate, which no database or response
        # can hold: refuse it here, before it reaches either.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{UNREADABLE}: a string holds an unpaired surrogate escape") from None
    return data


UNREADABLE = "Cannot parse input stream due to I/O error as JSON document: Parse error"


def _body(call: Call, spec: TypeSpec) -> dict:
    data = load_json(call.body)
    if not isinstance(data, dict) or len(data) != 1:
        raise BadRequest(
            "Cannot parse object: the body must be a JSON object with one key, the type name "
            f'(for example {{"{spec.element_name}": {{...}}}})'
        )
    root, fields = next(iter(data.items()))
    root_spec = spec_for_name(root)
    if root_spec is None or (
        root_spec.type_path != spec.type_path
        and root_spec.type_path not in spec.subtypes
        and spec.type_path not in root_spec.subtypes
    ):
        raise BadRequest(f"Cannot parse object: {root} does not match the type {spec.element_name}")
    if not isinstance(fields, dict):
        raise BadRequest(f"Cannot parse object: the value of {root} must be a JSON object")
    return fields


def _render_written(call: Call, obj, spec: TypeSpec, default) -> dict:
    concrete = spec_for_object(obj, spec)
    ctx = call.context(getattr(obj, "workspace", None))
    ctx.register([obj])
    rendered = render_object(obj, concrete, ctx, call.fetch(default))
    if default is None or call.fetch(default).none:
        # Without fetch Rally still returns the version and type of what it wrote.
        rendered = {**rendered, "_objectVersion": str(getattr(obj, "version", 1))}
        rendered["_type"] = rendered.pop("_type")
    return rendered


def create(call: Call, spec: TypeSpec) -> dict:
    key_error = _key_error(call)
    if key_error:
        return envelopes.create_result(None, [key_error])
    try:
        fields = _body(call, spec)
        scope = resolve_scope(call.caller.user, call.params)
    except (BadRequest, ScopeError) as error:
        return envelopes.create_result(None, [str(error)])
    workspace = scope.workspace
    body = {key.lower(): value for key, value in fields.items()}
    if not call.params.get("workspace"):
        # The body's Workspace, or else its Project, decides when the URL names no workspace.
        named = body.get("workspace") and _find_cached("Workspace", call, body["workspace"])
        project = body.get("project") and _find_cached("Project", call, body["project"])
        if named:
            workspace = named
        elif project:
            workspace = project.workspace
    # Rally ranks a new object too when the create names a place (rankAbove, rankBelow,
    # rankTo), as the update does; a place relative to nothing creates nothing.
    ranking = {k: call.params.get(k) for k in ("rankAbove", "rankBelow", "rankTo")}
    try:
        with transaction.atomic():
            outcome = save_object(
                spec=spec,
                user=call.caller.user,
                workspace=workspace,
                fields=fields,
                default_project=scope.project,
            )
            if any(ranking.values()):
                refused = _apply_rank(call, outcome.obj, ranking)
                if refused:
                    raise WriteError([refused])
                outcome.obj.save(update_fields=["rank"])
    except WriteError as error:
        return envelopes.create_result(None, error.errors)
    obj = _render_written(call, outcome.obj, spec, None)
    return envelopes.create_result(obj, warnings=outcome.warnings)


def _find_cached(type_path: str, call: Call, value):
    """A workspace or project named by a create's body: rows that rarely change, so cached
    per generation (accounts/generation.py) instead of two SELECTs on every create."""
    ident = _ref_text(value)
    key = ("find", type_path, call.caller.user.subscription_id, ident)
    return generation.cached(key, lambda: find_object(SPECS[type_path], call.caller, ident))


def _ref_text(value) -> str:
    return str(value.get("_ref", "")) if isinstance(value, dict) else str(value)


def update(call: Call, spec: TypeSpec, ident: str) -> dict:
    key_error = _key_error(call)
    if key_error:
        return envelopes.operation_result([key_error])
    obj = find_object(spec, call.caller, ident)
    if obj is None:
        return envelopes.operation_result(
            [f"Could not read: Could not read {spec.element_name} {ident} to update."]
        )
    concrete = spec_for_object(obj, spec)
    ranking = {k: call.params.get(k) for k in ("rankAbove", "rankBelow", "rankTo")}
    try:
        fields = _body(call, concrete) if call.body.strip() else {}
    except BadRequest as error:
        return envelopes.operation_result([str(error)])
    if any(ranking.values()):
        error = _apply_rank(call, obj, ranking)
        if error:
            return envelopes.operation_result([error])
        fields = {k: v for k, v in fields.items() if not k.startswith("_")}
    try:
        outcome = save_object(
            spec=concrete,
            user=call.caller.user,
            workspace=_workspace_of(obj, call),
            fields=fields,
            obj=obj,
        )
    except WriteError as error:
        return envelopes.operation_result(error.errors)
    rendered = _render_written(call, outcome.obj, concrete, FETCH_ALL)
    return envelopes.operation_result(warnings=outcome.warnings, Object=rendered)


def _workspace_of(obj, call: Call):
    if hasattr(obj, "workspace_id"):
        return obj.workspace
    if obj.__class__.__name__ == "Workspace":
        return obj
    return resolve_scope(call.caller.user, QueryDict()).workspace


def _apply_rank(call: Call, obj, ranking: dict) -> str | None:
    if not isinstance(obj, Artifact):
        return "Ranking is only supported for artifacts"
    if ranking.get("rankTo"):
        if ranking["rankTo"].upper() not in {"TOP", "BOTTOM"}:
            return "rankTo must be TOP or BOTTOM"
        rank(obj=obj, to=ranking["rankTo"])
        return None
    name = "rankAbove" if ranking.get("rankAbove") else "rankBelow"
    other = find_object(SPECS["Artifact"], call.caller, ranking[name])
    if other is None or other.workspace_id != obj.workspace_id:
        return f"Could not read: Cannot find object to rank relative to: {ranking[name]}"
    rank(obj=obj, above=other if name == "rankAbove" else None,
         below=other if name == "rankBelow" else None)  # fmt: skip
    return None


def delete(call: Call, spec: TypeSpec, ident: str) -> dict:
    key_error = _key_error(call)
    if key_error:
        return envelopes.operation_result([key_error])
    obj = find_object(spec, call.caller, ident)
    if obj is None:
        return envelopes.operation_result(["Object to delete cannot be null"])
    try:
        delete_object(spec=spec, obj=obj, user=call.caller.user)
    except WriteError as error:
        return envelopes.operation_result(error.errors)
    return envelopes.operation_result()


def change_collection(call: Call, spec: TypeSpec, ident: str, name: str, action: str) -> dict:
    key_error = _key_error(call)
    if key_error:
        return envelopes.operation_result([key_error])
    owner = find_object(spec, call.caller, ident)
    if owner is None:
        return envelopes.operation_result([envelopes.NOT_FOUND])
    owner_spec = spec_for_object(owner, spec)
    attr = owner_spec.attribute(name) or custom_collection(owner, owner_spec, name)
    if attr is None or not attr.is_collection:
        return envelopes.operation_result(
            [f"Could not read: {owner_spec.element_name} has no collection {name}"]
        )
    if not attr.writable_collection:
        return envelopes.operation_result(
            [
                "Cannot modify the read-only collection "
                f"{owner_spec.element_name}.{attr.element_name}"
            ]
        )
    try:
        data = load_json(call.body)
    except BadRequest as error:
        return envelopes.operation_result([str(error)])
    items = None
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() in {"collectionitems", attr.element_name.lower()}:
                items = value
    if not isinstance(items, list):
        return envelopes.operation_result(
            ['Cannot parse object: expected {"CollectionItems": [{"_ref": ...}, ...]}']
        )
    if attr.custom:
        return _change_multi_value(call, owner, owner_spec, attr, items, add=action == "add")
    conv = FieldConverter(
        owner_spec, call.caller.user, owner.workspace, attributes_for(owner_spec, owner.workspace)
    )
    with transaction.atomic():
        members = conv.members(attr, items)
        if conv.errors:
            transaction.set_rollback(True)
            return envelopes.operation_result(conv.errors)
        change_members(
            obj=owner, collection=attr.element_name, members=members, add=action == "add",
            user=call.caller.user,
        )  # fmt: skip
    if action == "remove":
        return envelopes.operation_result()
    target = SPECS[attr.target]
    ctx = call.context(owner.workspace)
    ctx.register(members)
    results = [render_object(m, target, ctx, call.fetch(FETCH_ALL)) for m in members]
    return envelopes.operation_result(Results=results)


def _change_multi_value(call: Call, owner, spec: TypeSpec, attr, items: list, *, add: bool):
    """A multi-value drop-down's add or remove: a write of the whole set (its revision, its
    webhook and its validation are a write's)."""
    refs = [item.get("_ref") if isinstance(item, dict) else item for item in items]
    stored = (owner.custom or {}).get(attr.element_name)
    whole = multi_value.changed_set(attr, stored, refs, add=add)
    try:
        save_object(
            spec=spec,
            user=call.caller.user,
            workspace=owner.workspace,
            fields={attr.element_name: whole},
            obj=owner,
        )
    except WriteError as error:
        return envelopes.operation_result(error.errors)
    if not add:
        return envelopes.operation_result()
    values = multi_value.chosen(attr, multi_value.convert(attr, refs, "", []))
    wsapi = call.context(owner.workspace).wsapi
    return envelopes.operation_result(Results=multi_value.value_items(attr, values, wsapi))


# --- /batch -------------------------------------------------------------------------------


def batch(call: Call) -> dict:
    key_error = _key_error(call)
    if key_error:
        return {"BatchResult": {"Errors": [key_error], "Warnings": [], "Results": []}}
    try:
        data = load_json(call.body)
    except BadRequest as error:
        return {"BatchResult": {"Errors": [str(error)], "Warnings": [], "Results": []}}
    entries = data.get("Batch") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return {"BatchResult": {"Errors": ['Cannot parse object: expected {"Batch": [...]}'],
                                "Warnings": [], "Results": []}}  # fmt: skip
    results = [_batch_entry(call, entry) for entry in entries]
    return {"BatchResult": {"Errors": [], "Warnings": [], "Results": results}}


def _batch_entry(call: Call, entry) -> dict:
    from .views import handle

    result = {**envelopes.API, "Errors": [], "Warnings": []}
    entry = entry.get("Entry") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("Path"), str):
        return {**result, "Errors": ["Cannot parse batch entry: expected Entry with Path"]}
    parts = urlsplit(entry["Path"])
    path = parts.path
    marker = "/webservice/"
    if marker in path:
        path = path.split(marker, 1)[1].split("/", 1)[1] if "/" in path.split(marker, 1)[1] else ""
    params = QueryDict(mutable=True)
    for key, value in call.params.items():
        if key != "key":
            params[key] = value
    for key, value in parse_qsl(parts.query):
        params[key] = value
    body = entry.get("Body")
    segments = [s for s in path.strip("/").removesuffix(".js").split("/") if s]
    if segments[:1] and segments[0].lower() == "batch":
        return {**result, "Errors": ["Cannot parse batch entry: a batch cannot hold a batch"]}
    sub = Call(
        method=str(entry.get("Method") or "GET").upper(),
        segments=segments,
        params=params,
        body=json.dumps(body).encode() if body is not None else b"",
        caller=call.caller,
        base_url=call.base_url,
    )
    # Bad input in an entry is that entry's error; an exception is a bug and fails the request.
    with transaction.atomic():
        payload = handle(sub)
    ((root, inner),) = payload.items()
    if root in {"CreateResult", "OperationResult"}:
        result["Errors"], result["Warnings"] = inner.get("Errors", []), inner.get("Warnings", [])
        if "Object" in inner:
            result["Object"] = inner["Object"]
    elif root == "QueryResult":
        result["Errors"] = inner.get("Errors", [])
        result["Results"] = inner.get("Results", [])
        result["TotalResultCount"] = inner.get("TotalResultCount", 0)
    else:
        obj = {k: v for k, v in inner.items() if k not in {"Errors", "Warnings"}}
        result["Object"] = obj
    return result
