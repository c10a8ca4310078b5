"""Rally JSON for stored objects: refs, fetch semantics, collection summaries.

Aggregates (collection counts, task totals, leaf story figures) are computed in bulk for every
object registered with the RenderContext, so rendering a page of 2,000 items costs a handful
of queries, not one per item.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, Sum

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import Subscription, Workspace

from . import multi_value
from .models import Artifact, CustomField, TypeDefinition
from .registry import SPECS, Attr, TypeSpec, spec_for_object

API = {"_rallyAPIMajor": "2", "_rallyAPIMinor": "0"}


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def created_at(value: datetime | None) -> str:
    """Rally's human `_CreatedAt`: "just now", "today at 3:13 am", "Aug 29", "Sep 8, 2016"."""
    if value is None:
        return ""
    now = datetime.now(UTC)
    value = value.astimezone(UTC)
    if (now - value).total_seconds() < 60:
        return "just now"
    if value.date() == now.date():
        return f"today at {value.strftime('%I:%M %p').lstrip('0').lower()}"
    if value.year == now.year:
        return f"{value:%b} {value.day}"
    return f"{value:%b} {value.day}, {value.year}"


@dataclass(frozen=True)
class Fetch:
    """What a request asked for: `fetch=true`, a list of names, or nothing (refs only)."""

    all: bool = False
    names: frozenset[str] = frozenset()
    shallow: bool = False

    @property
    def none(self) -> bool:
        return not self.all and not self.names

    def wants(self, attr: Attr) -> bool:
        return self.all or attr.element_name.lower() in self.names


FETCH_NONE = Fetch()
FETCH_ALL = Fetch(all=True)


def parse_fetch(fetch: str | None, shallow_fetch: str | None = None) -> Fetch:
    """Parse `fetch`/`shallowFetch`; pyral wraps lists in literal double quotes."""
    shallow = bool(shallow_fetch and shallow_fetch.strip())
    value = (shallow_fetch if shallow else fetch) or ""
    value = value.strip().strip('"').strip("'").strip()
    if value.lower() in {"", "false"}:
        return FETCH_NONE
    if value.lower() == "true":
        return Fetch(all=True, shallow=shallow)
    names = set()
    # `WorkProduct[Name;FormattedID]` names nested fields: accept them as fetched names too.
    for part in value.replace("[", ",").replace("]", ",").replace(";", ",").split(","):
        part = part.split(":", 1)[0].strip()
        if part:
            names.add(part.lower())
    return Fetch(names=frozenset(names), shallow=shallow)


def custom_attr(field: CustomField) -> Attr:
    return Attr(
        field.element_name,
        field.attribute_type,
        f"custom__{field.element_name}",
        # A user custom field is an OBJECT whose AllowedValueType is User; a multi-value
        # drop-down a COLLECTION of AllowedAttributeValues (multi_value.py).
        target={"OBJECT": "User", "COLLECTION": "AllowedAttributeValue"}.get(field.attribute_type),
        writable_collection=field.attribute_type == "COLLECTION",
        allowed=tuple(field.allowed_values) if field.allowed_values else None,
        custom=True,
        name=field.name,
        oid=field.object_id,
        required=field.required,
    )


@dataclass
class RenderContext:
    base_url: str
    subscription: Subscription
    workspace: Workspace | None = None
    _registered: dict[type, dict[int, Any]] = field(default_factory=dict)
    _aggregates: dict[str, dict[int, Any]] = field(default_factory=dict)
    _computed: dict[str, set[int]] = field(default_factory=dict)
    _custom: dict[tuple[int, str], list[Attr]] = field(default_factory=dict)
    _typedefs: dict[tuple[int, str], TypeDefinition] = field(default_factory=dict)
    # Artifacts created by this very request: nothing can point at them yet, so their
    # read-only collections are empty and their roll-ups zero, with no query to say so; Tags
    # and Milestones too unless the create named them (`created_with`, set by save_object).
    fresh: frozenset[int] = frozenset()

    @property
    def wsapi(self) -> str:
        return f"{self.base_url}/slm/webservice/v2.0"

    # --- registration for bulk aggregates -------------------------------------------------

    def register(self, objects) -> None:
        for obj in objects:
            self._register_one(obj)
            for related in obj._state.fields_cache.values():
                if related is not None and hasattr(related, "_state"):
                    self._register_one(related)

    def _register_one(self, obj) -> None:
        self._registered.setdefault(type(obj), {})[obj.pk] = obj

    def _pending(self, key: str, model: type, obj, type_path: str | None = None) -> list[int]:
        self._register_one(obj)
        done = self._computed.setdefault(key, set())
        ids = [
            pk
            for pk, item in self._registered.get(model, {}).items()
            if pk not in done and (type_path is None or item.type_path == type_path)
        ]
        done.update(ids)
        return ids

    # --- values that need context ----------------------------------------------------------

    def workspace_of(self, obj) -> Workspace | None:
        if isinstance(obj, Workspace):
            return obj
        if getattr(obj, "workspace_id", None) is not None:
            if self.workspace is not None and self.workspace.pk == obj.workspace_id:
                return self.workspace
            return obj.workspace
        return self.workspace

    def custom_attrs(self, workspace_id: int | None, type_path: str) -> list[Attr]:
        if workspace_id is None:
            return []
        key = (workspace_id, type_path)
        if key not in self._custom:

            def load() -> list[Attr]:
                fields = CustomField.objects.filter(workspace_id=workspace_id, type_path=type_path)
                return [custom_attr(f) for f in fields.order_by("element_name")]

            self._custom[key] = generation.cached(("custom-sorted", *key), load)
        return self._custom[key]

    def attributes(self, spec: TypeSpec, workspace_id: int | None) -> list[Attr]:
        return [*spec.attributes.values(), *self.custom_attrs(workspace_id, spec.type_path)]

    def typedef(self, type_path: str, workspace_id: int | None = None) -> TypeDefinition | None:
        workspace_id = workspace_id or (self.workspace.pk if self.workspace else None)
        key = (workspace_id, type_path)
        if key not in self._typedefs:
            self._typedefs[key] = generation.cached(
                ("typedef", *key),
                lambda: TypeDefinition.objects.filter(
                    workspace_id=workspace_id, type_path=type_path
                ).first(),
            )
        return self._typedefs[key]

    def count(self, obj, collection: str, spec: TypeSpec | None = None) -> int:
        spec = spec_for_object(obj, spec)
        attr = spec.attributes.get(collection)
        if attr is None or (obj.pk in self.fresh and not attr.writable_collection):
            return 0
        if collection == "Attributes" and isinstance(obj, TypeDefinition):
            typed = SPECS.get(obj.type_path)
            return len(self.attributes(typed, obj.workspace_id)) if typed else 0
        if attr.element_name in {"Tags", "Milestones"} and isinstance(obj, Artifact):
            return len(self.tag_names(obj, attr.element_name))
        member_spec = SPECS.get(attr.target or "")
        if member_spec is None or attr.member_owner is None:
            return 0
        key = f"count:{spec.model.__name__}:{collection}"
        values = self._aggregates.setdefault(key, {})
        if obj.pk not in values:
            ids = self._pending(key, type(obj), obj)
            members = member_spec.model.objects.filter(**{f"{attr.member_owner}__in": ids})
            if attr.member_filter:
                members = members.filter(**dict(attr.member_filter))
            values.update(dict.fromkeys(ids, 0))
            for row in members.values(attr.member_owner).annotate(n=Count("pk")):
                values[row[attr.member_owner]] = row["n"]
        return values.get(obj.pk, 0)

    def tag_names(self, obj: Artifact, collection: str) -> list[tuple[int, str]]:
        if obj.pk in self.fresh and collection not in getattr(obj, "created_with", ()):
            return []  # created just now without this collection
        key = f"names:{collection}"
        values = self._aggregates.setdefault(key, {})
        if obj.pk not in values:
            ids = self._pending(key, Artifact, obj)
            for pk in ids:
                values.setdefault(pk, [])
            through = Artifact.tags.through if collection == "Tags" else Artifact.milestones.through
            column = "tag" if collection == "Tags" else "milestone"
            rows = through.objects.filter(artifact_id__in=ids).values_list(
                "artifact_id", f"{column}_id", f"{column}__name"
            )
            for artifact_id, member_id, name in rows.order_by(f"{column}__name"):
                values.setdefault(artifact_id, []).append((member_id, name))
        return values.get(obj.pk, [])

    def task_total(self, obj: Artifact, column: str) -> float:
        if obj.pk in self.fresh:
            return 0
        key = "task_totals"
        values = self._aggregates.setdefault(key, {})
        if obj.pk not in values:
            ids = self._pending(key, Artifact, obj)
            values.update(dict.fromkeys(ids))
            rows = (
                Artifact.objects.filter(work_product_id__in=ids)
                .values("work_product_id")
                .annotate(estimate=Sum("estimate"), to_do=Sum("to_do"), actuals=Sum("actuals"))
            )
            for row in rows:
                values[row["work_product_id"]] = row
        return (values.get(obj.pk) or {}).get(column) or 0

    def leaf(self, obj: Artifact, figure: str):
        """A roll-up figure of a portfolio item (rollups.py), computed for the whole page."""
        from .rollups import Figures, figures

        if obj.pk in self.fresh:
            return Figures().value(figure)
        key = f"leaf:{obj.type_path}"
        values = self._aggregates.setdefault(key, {})
        if obj.pk not in values:
            values.update(figures(self._pending(key, Artifact, obj, obj.type_path), obj.type_path))
        found = values.get(obj.pk)
        return found.value(figure) if found is not None else 0

    # --- refs --------------------------------------------------------------------------------

    def ref_url(self, obj, spec: TypeSpec) -> str:
        return f"{self.wsapi}/{spec.ref_segment}/{getattr(obj, spec.oid_field)}"

    def collection_url(self, obj, spec: TypeSpec, name: str) -> str:
        return f"{self.wsapi}/{spec.collection_segment}/{getattr(obj, spec.oid_field)}/{name}"


def object_uuid(obj, spec: TypeSpec) -> str:
    if spec.type_path == "UserProfile":
        return str(uuid.uuid5(obj.uuid, "userprofile"))
    return str(obj.uuid)


def ref_name(obj, spec: TypeSpec) -> str:
    return spec.ref_name(obj)


def render_ref(obj, spec: TypeSpec, ctx: RenderContext) -> dict:
    return {
        **API,
        "_ref": ctx.ref_url(obj, spec),
        "_refObjectUUID": object_uuid(obj, spec),
        "_refObjectName": ref_name(obj, spec),
        "_type": spec.type_path,
    }


def _scalar(attr: Attr, value: Any) -> Any:
    if attr.attribute_type == "DATE":
        return iso(value)
    if attr.attribute_type in {"QUANTITY", "DECIMAL"} and value is not None:
        number = float(value)
        return int(number) if number.is_integer() and attr.attribute_type == "QUANTITY" else number
    if value is None and attr.attribute_type in {"TEXT"}:
        return ""
    return value


def custom_stored(value: Any) -> Any:
    """A converted custom value as the JSON column keeps it: dates as ISO text, objects
    (a user) as their ObjectID."""
    if isinstance(value, datetime | date):
        return iso(value)
    if hasattr(value, "object_id"):
        return value.object_id
    return value


def custom_value(attr: Attr, stored: Any) -> Any:
    """What `custom_stored` kept, as rendering and comparing need it."""
    if stored is None:
        return None
    if attr.attribute_type == "DATE" and isinstance(stored, str):
        return datetime.fromisoformat(stored.replace("Z", "+00:00"))
    if attr.is_object and attr.target in SPECS:
        return SPECS[attr.target].queryset().filter(pk=stored).first()
    return stored


def raw_value(obj, attr: Attr, ctx: RenderContext) -> Any:
    if attr.getter is not None:
        return attr.getter(obj, ctx)
    if attr.custom:
        return custom_value(attr, (obj.custom or {}).get(attr.element_name))
    if attr.column is None:
        return None
    return getattr(obj, attr.column)


def render_value(obj, spec: TypeSpec, attr: Attr, ctx: RenderContext, fetch: Fetch, nested: bool):
    if attr.is_collection and attr.custom:
        stored = (obj.custom or {}).get(attr.element_name)
        url = ctx.collection_url(obj, spec, attr.element_name)
        return multi_value.summary(attr, stored, url)
    if attr.is_collection:
        summary = {
            **API,
            "_ref": ctx.collection_url(obj, spec, attr.element_name),
            "_type": attr.target,
        }
        if attr.element_name in {"Tags", "Milestones"} and isinstance(obj, Artifact):
            segment = "tag" if attr.element_name == "Tags" else "milestone"
            summary["_tagsNameArray"] = [
                {"Name": name, "_ref": f"/{segment}/{oid}"}
                for oid, name in ctx.tag_names(obj, attr.element_name)
            ]
            summary["Count"] = len(summary["_tagsNameArray"])
        else:
            summary["Count"] = ctx.count(obj, attr.element_name, spec)
        return summary
    value = raw_value(obj, attr, ctx)
    if attr.is_object:
        if value is None:
            return None
        target = SPECS.get(attr.target or "")
        target_spec = spec_for_object(value, target)
        if fetch.all or fetch.shallow:
            return render_ref(value, target_spec, ctx)
        return render_object(value, target_spec, ctx, fetch, nested=True)
    return _scalar(attr, value)


def render_object(
    obj, spec: TypeSpec, ctx: RenderContext, fetch: Fetch, *, nested: bool = False
) -> dict:
    """One object as Rally renders it for `fetch` (without the Errors/Warnings of a GET)."""
    spec = spec_for_object(obj, spec)
    if fetch.none:
        return render_ref(obj, spec, ctx)
    out = {
        **API,
        "_ref": ctx.ref_url(obj, spec),
        "_refObjectUUID": object_uuid(obj, spec),
    }
    if hasattr(obj, "version") and spec.type_path != "UserProfile":
        out["_objectVersion"] = str(obj.version)
    out["_refObjectName"] = ref_name(obj, spec)
    workspace_id = getattr(obj, "workspace_id", None)
    for attr in ctx.attributes(spec, workspace_id):
        if not fetch.wants(attr):
            continue
        if nested and attr.is_collection:
            continue
        # Nested objects show only relations already loaded: more would cost a query per item.
        if (
            nested
            and attr.is_object
            and attr.column
            and not obj._meta.get_field(attr.column).is_cached(obj)
            and getattr(obj, f"{attr.column}_id", None) is not None
        ):
            continue
        out[attr.element_name] = render_value(obj, spec, attr, ctx, fetch, nested)
        if attr.element_name == "CreationDate":
            out["_CreatedAt"] = created_at(obj.creation_date)
    out["_type"] = spec.type_path
    return out


def render_full(obj, *, base_url: str, created: bool = False) -> dict:
    """An object as Rally JSON with `fetch=true`, for webhooks and other in-process callers.

    `created`: the object was created just now (a webhook's Created), so nothing refers to it.
    """
    spec = spec_for_object(obj)
    ctx = RenderContext(
        base_url=base_url.rstrip("/"),
        subscription=generation.cached(
            ("subscription",), lambda: Subscription.objects.order_by("object_id").first()
        ),
        workspace=getattr(obj, "workspace", None),
        fresh=frozenset([obj.pk]) if created else frozenset(),
    )
    ctx.register([obj])
    return render_object(obj, spec, ctx, FETCH_ALL)


def select_related_for(spec: TypeSpec, fetch: Fetch) -> list[str]:
    related = set(spec.always_related)
    if fetch.none:
        return sorted(related) if spec.model is not Artifact else []
    model_fields = {f.name for f in spec.model._meta.get_fields()}
    for attr in spec.attributes.values():
        if not (attr.is_object and attr.column and fetch.wants(attr)):
            continue
        if attr.column not in model_fields:
            continue
        related.add(attr.column)
        if attr.element_name == "Feature" and spec.type_path == "HierarchicalRequirement":
            # The Feature of a child story is its parent's: load one level up in the join.
            related.add("parent__portfolio_item")
        target = SPECS.get(attr.target or "")
        if fetch.all or fetch.shallow or target is None:
            continue
        # A fetch list hydrates nested objects too (WorkProduct.Owner): load them in the join.
        target_fields = {f.name for f in target.model._meta.get_fields()}
        for inner in target.attributes.values():
            if inner.is_object and inner.column in target_fields and fetch.wants(inner):
                related.add(f"{attr.column}__{inner.column}")
    return sorted(related)
