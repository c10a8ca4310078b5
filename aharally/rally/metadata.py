"""Metadata discovery: workspaces, the project tree, type definitions, states and attributes.

The integration wizard uses these to offer choices; the sync uses them to map fields and
states. Reference: https://rally1.rallydev.com/slm/doc/webservice/ (Subscription,
Workspace, Project, TypeDefinition, AttributeDefinition, AllowedAttributeValue, State).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aharally.rally.errors import RallyNotFound
from aharally.rally.objects import RallyObject, RallyRef
from aharally.rally.query import where

if TYPE_CHECKING:
    from aharally.rally.client import RallyClient, RefLike

# Attribute types whose AllowedValues are a list of strings (not refs to other objects).
# COLLECTION: a multi-value drop-down ("Drop-Down List (Multi-Value)"), set by its values' refs.
_VALUE_LIST_TYPES = {
    "STRING",
    "RATING",
    "STATE",
    "TEXT",
    "QUANTITY",
    "INTEGER",
    "DECIMAL",
    "COLLECTION",
}


@dataclass(frozen=True)
class Workspace:
    ref: RallyRef
    object_id: int | None
    name: str
    state: str | None
    uuid: str | None = None

    @property
    def is_open(self) -> bool:
        return (self.state or "Open") == "Open"


@dataclass
class Project:
    """A project and, once the tree is built, its children (sorted by name)."""

    ref: RallyRef
    object_id: int | None
    name: str
    state: str | None
    parent: RallyRef | None
    uuid: str | None = None
    children: list[Project] = field(default_factory=list)

    def walk(self, depth: int = 0):
        """(depth, project) for this project and every descendant, depth-first."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class TypeDefinition:
    ref: RallyRef
    object_id: int | None
    name: str
    element_name: str
    display_name: str | None
    type_path: str
    id_prefix: str | None
    parent_name: str | None
    ordinal: int | None
    abstract: bool = False
    creatable: bool = True

    @property
    def is_portfolio_item(self) -> bool:
        return self.type_path.lower().startswith("portfolioitem/")


@dataclass(frozen=True)
class State:
    """A PortfolioItem state (a ``State`` object; PI ``State`` fields reference these)."""

    ref: RallyRef
    object_id: int | None
    name: str
    order_index: int | None
    enabled: bool = True


@dataclass(frozen=True)
class AttributeDefinition:
    ref: RallyRef
    name: str
    element_name: str
    attribute_type: str
    required: bool
    read_only: bool
    custom: bool
    constrained: bool
    hidden: bool = False
    # Strings for drop-downs, ScheduleState, ratings; None when not a value list.
    allowed_values: tuple[str, ...] | None = None
    # The refs of `allowed_values`, in the same order, where Rally gave them: a multi-value
    # drop-down is written as a list of them.
    value_refs: tuple[RallyRef, ...] = ()

    def value_ref(self, value: str) -> RallyRef | None:
        """The ref of one allowed value (exact, then case-insensitive), if Rally gave it."""
        pairs = list(zip(self.allowed_values or (), self.value_refs, strict=False))
        for name, ref in pairs:
            if name == value:
                return ref
        wanted = value.strip().lower()
        return next((ref for name, ref in pairs if name.strip().lower() == wanted), None)


_TYPEDEF_FETCH = [
    "ObjectID",
    "Name",
    "ElementName",
    "DisplayName",
    "TypePath",
    "IDPrefix",
    "Parent",
    "Ordinal",
    "Abstract",
    "Creatable",
]
_ATTRIBUTE_FETCH = [
    "Name",
    "ElementName",
    "AttributeType",
    "Required",
    "ReadOnly",
    "Custom",
    "Constrained",
    "Hidden",
    "AllowedValues",
]


class MetadataMixin:
    """Discovery calls of ``RallyClient`` (kept here to keep the client module small)."""

    def workspaces(self: RallyClient, *, include_closed: bool = False) -> list[Workspace]:
        """The workspaces of the credential's subscription, by name.

        Reference: GET /subscription, then GET /Subscription/<oid>/Workspaces.
        """
        subscription = self.subscription(fetch=["ObjectID", "Name", "Workspaces"])
        items = self.collection(
            subscription, "Workspaces", fetch=["ObjectID", "ObjectUUID", "Name", "State"]
        )
        result = [
            Workspace(
                ref=item.ref,
                object_id=item.object_id,
                name=item.name or "",
                state=item.get("State"),
                uuid=item.uuid,
            )
            for item in items
        ]
        if not include_closed:
            result = [w for w in result if w.is_open]
        return sorted(result, key=lambda w: w.name.lower())

    def projects(
        self: RallyClient, workspace: RefLike, *, include_closed: bool = False
    ) -> list[Project]:
        """The project tree of a workspace: top-level projects with ``children`` filled in.

        A project whose parent is not visible (closed, or no permission) becomes a root.
        Reference: GET /Workspace/<oid>/Projects?fetch=Name,State,Parent.
        """
        items = self.collection(
            workspace, "Projects", fetch=["ObjectID", "ObjectUUID", "Name", "State", "Parent"]
        )
        projects = [
            Project(
                ref=item.ref,
                object_id=item.object_id,
                name=item.name or "",
                state=item.get("State"),
                parent=item.ref_of("Parent"),
                uuid=item.uuid,
            )
            for item in items
            if include_closed or (item.get("State") or "Open") == "Open"
        ]
        by_path = {p.ref.path: p for p in projects}
        roots: list[Project] = []
        for project in projects:
            parent = by_path.get(project.parent.path) if project.parent else None
            (parent.children if parent else roots).append(project)
        for project in projects:
            project.children.sort(key=lambda p: p.name.lower())
        return sorted(roots, key=lambda p: p.name.lower())

    def type_definitions(
        self: RallyClient, *, workspace: RefLike | None = None
    ) -> list[TypeDefinition]:
        """Every type definition of the workspace. Reference: GET /typedefinition."""
        items = self.query(
            "TypeDefinition", fetch=_TYPEDEF_FETCH, workspace=workspace, order="Name"
        )
        return [_typedef(item) for item in items]

    def type_definition(
        self: RallyClient, type_path: str, *, workspace: RefLike | None = None
    ) -> TypeDefinition:
        """One type by its TypePath (``HierarchicalRequirement``, ``PortfolioItem/Feature``)."""
        item = self.query(
            "TypeDefinition",
            query=where("TypePath", "=", type_path),
            fetch=_TYPEDEF_FETCH,
            workspace=workspace,
            limit=1,
        ).first()
        if item is None:
            raise RallyNotFound(f"Rally has no type {type_path!r} in this workspace")
        return _typedef(item)

    def portfolio_item_types(
        self: RallyClient, *, workspace: RefLike | None = None
    ) -> list[TypeDefinition]:
        """Portfolio item types from the lowest (Ordinal 0, usually Feature) upwards."""
        items = self.query(
            "TypeDefinition",
            query=where("TypePath", "contains", "PortfolioItem/"),
            fetch=_TYPEDEF_FETCH,
            workspace=workspace,
            order=["Ordinal", "ObjectID"],
        )
        types = [_typedef(item) for item in items]
        # The abstract PortfolioItem type itself has no level (Ordinal -1).
        levels = [t for t in types if t.is_portfolio_item and (t.ordinal or 0) >= 0]
        return sorted(levels, key=lambda t: t.ordinal or 0)

    def states(
        self: RallyClient,
        type_path: str,
        *,
        workspace: RefLike | None = None,
        typedef: TypeDefinition | None = None,
    ) -> list[State]:
        """The ordered states of a portfolio item type (`typedef`: its definition, read already).

        Reference: GET /state?query=(TypeDef = <typedef ref>)&order=OrderIndex.
        """
        typedef = typedef or self.type_definition(type_path, workspace=workspace)
        items = self.query(
            "State",
            query=where("TypeDef", "=", typedef.ref),
            fetch=["ObjectID", "Name", "OrderIndex", "Enabled"],
            order=["OrderIndex", "ObjectID"],
            workspace=workspace,
        )
        return [
            State(
                ref=item.ref,
                object_id=item.object_id,
                name=item.name or "",
                order_index=_int_or_none(item.get("OrderIndex")),
                enabled=item.get("Enabled", True) is not False,
            )
            for item in items
        ]

    def attributes(
        self: RallyClient,
        type_path: str,
        *,
        workspace: RefLike | None = None,
        with_allowed_values: bool = True,
        typedef: TypeDefinition | None = None,
    ) -> list[AttributeDefinition]:
        """The attributes of a type, with allowed values of drop-downs and ScheduleState
        (`typedef`: the type's definition, read already).

        Reference: GET /TypeDefinition/<oid>/Attributes, then
        GET /AttributeDefinition/<oid>/AllowedValues for each value-list attribute.
        """
        typedef = typedef or self.type_definition(type_path, workspace=workspace)
        items = self.collection(typedef.ref, "Attributes", fetch=_ATTRIBUTE_FETCH)
        return [self._attribute(item, with_allowed_values=with_allowed_values) for item in items]

    def allowed_values(
        self: RallyClient, type_path: str, attribute: str, *, workspace: RefLike | None = None
    ) -> tuple[str, ...]:
        """The allowed values of one attribute (by ElementName, e.g. ``ScheduleState``)."""
        for item in self.attributes(type_path, workspace=workspace, with_allowed_values=False):
            if item.element_name == attribute:
                return self._values_of(item.ref) or ()
        raise RallyNotFound(f"{type_path} has no attribute {attribute!r}")

    def attribute_values(self: RallyClient, attribute: AttributeDefinition) -> tuple[str, ...]:
        """The allowed values of an attribute read without them (one request).

        Reference: GET /AttributeDefinition/<oid>/AllowedValues.
        """
        return self._values_of(attribute.ref)

    def attribute_with_values(
        self: RallyClient, attribute: AttributeDefinition
    ) -> AttributeDefinition:
        """The attribute with its allowed values and their refs (one request).

        Reference: GET /AttributeDefinition/<oid>/AllowedValues.
        """
        pairs = self._allowed_of(attribute.ref)
        refs = tuple(ref for _, ref in pairs if ref is not None)
        return replace(
            attribute,
            allowed_values=tuple(name for name, _ in pairs),
            value_refs=refs if len(refs) == len(pairs) else (),
        )

    def required_fields(
        self: RallyClient, type_path: str, *, workspace: RefLike | None = None
    ) -> list[AttributeDefinition]:
        """Attributes a create must set: required and writable."""
        return [
            a
            for a in self.attributes(type_path, workspace=workspace, with_allowed_values=False)
            if a.required and not a.read_only
        ]

    def _attribute(
        self: RallyClient, item: RallyObject, *, with_allowed_values: bool
    ) -> AttributeDefinition:
        attribute_type = str(item.get("AttributeType") or "")
        allowed = item.get("AllowedValues")
        values: tuple[str, ...] | None = None
        refs: tuple[RallyRef, ...] = ()
        if isinstance(allowed, list):
            values = tuple(_value_text(v) for v in allowed)
        elif (
            with_allowed_values
            and isinstance(allowed, Mapping)
            and allowed.get("Count")
            and attribute_type in _VALUE_LIST_TYPES
        ):
            pairs = self._allowed_of(item.ref)
            values = tuple(name for name, _ in pairs)
            refs = tuple(ref for _, ref in pairs if ref is not None)
            refs = refs if len(refs) == len(values) else ()
        return AttributeDefinition(
            ref=item.ref,
            name=item.get("Name") or "",
            element_name=item.get("ElementName") or "",
            attribute_type=attribute_type,
            required=bool(item.get("Required")),
            read_only=bool(item.get("ReadOnly")),
            custom=bool(item.get("Custom")),
            constrained=bool(item.get("Constrained")),
            hidden=bool(item.get("Hidden")),
            allowed_values=values,
            value_refs=refs,
        )

    def _values_of(self: RallyClient, attribute_ref: RallyRef) -> tuple[str, ...]:
        return tuple(name for name, _ in self._allowed_of(attribute_ref))

    def _allowed_of(
        self: RallyClient, attribute_ref: RallyRef
    ) -> tuple[tuple[str, RallyRef | None], ...]:
        """(StringValue, ref) of each allowed value, in Rally's order."""
        items = self.collection(attribute_ref, "AllowedValues", fetch=["StringValue", "ValueIndex"])
        ordered = sorted(items, key=lambda v: _int_or_none(v.get("ValueIndex")) or 0)
        # Rally lists "" (no value) for optional drop-downs; it is not a choice.
        return tuple(
            (_value_text(v.fields), _ref_or_none(v)) for v in ordered if _value_text(v.fields) != ""
        )


def _typedef(item: RallyObject) -> TypeDefinition:
    parent = item.get("Parent")
    return TypeDefinition(
        ref=item.ref,
        object_id=item.object_id,
        name=item.name or "",
        element_name=item.get("ElementName") or "",
        display_name=item.get("DisplayName"),
        type_path=item.get("TypePath") or item.get("ElementName") or "",
        id_prefix=item.get("IDPrefix"),
        parent_name=(parent or {}).get("_refObjectName") if isinstance(parent, Mapping) else None,
        ordinal=_int_or_none(item.get("Ordinal")),
        abstract=bool(item.get("Abstract")),
        creatable=item.get("Creatable", True) is not False,
    )


def _value_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("StringValue") or "")
    return str(value)


def _ref_or_none(item: RallyObject) -> RallyRef | None:
    try:
        return item.ref
    except (KeyError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
