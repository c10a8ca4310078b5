"""Building blocks of the type registry: Attr, TypeSpec, value lists and declaration helpers.

One declaration per attribute drives everything else: the serialiser, the query compiler, the
write validation and the schema endpoint. `column` is the ORM path used to read, filter and sort.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from rally_sandbox.accounts.models import Workspace

from .models import Artifact

SCALAR_TYPES = {"STRING", "TEXT", "INTEGER", "QUANTITY", "DECIMAL", "BOOLEAN", "DATE", "RAW"}
ENUM_TYPES = {"STATE", "RATING"}

SCHEDULE_STATES = ["Defined", "In-Progress", "Completed", "Accepted"]
SCHEDULE_STATE_PREFIX = {
    "Defined": "D",
    "In-Progress": "P",
    "Completed": "C",
    "Accepted": "A",
}
DEFECT_STATES = ["Submitted", "Open", "Fixed", "Closed"]
TASK_STATES = ["Defined", "In-Progress", "Completed"]
PRIORITIES = ["None", "Resolve Immediately", "High Attention", "Normal", "Low"]
SEVERITIES = ["None", "Crash/Data Loss", "Major Problem", "Minor Problem", "Cosmetic"]
ENVIRONMENTS = ["None", "Development", "Test", "Production"]
RESOLUTIONS = [
    "None", "Architecture", "Code Change", "Configuration Change", "Database Change",
    "Duplicate", "Need More Information", "Not a Defect", "Software Limitation",
    "User Interface",
]  # fmt: skip
RELEASE_STATES = ["Planning", "Active", "Accepted"]
ITERATION_STATES = ["Planning", "Committed", "Accepted"]

# Portfolio item levels, lowest first: (element name, type path, FormattedID prefix).
PORTFOLIO_LEVELS = [
    ("Feature", "PortfolioItem/Feature", "F"),
    ("Initiative", "PortfolioItem/Initiative", "I"),
    ("Theme", "PortfolioItem/Theme", "T"),
]
PORTFOLIO_PATHS = [path for _, path, _ in PORTFOLIO_LEVELS]
ARTIFACT_PATHS = ["HierarchicalRequirement", "Defect", "Task", *PORTFOLIO_PATHS]


def display_name(element_name: str) -> str:
    """`PlanEstimate` → `Plan Estimate`, as Rally names its built-in attributes."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", element_name)


@dataclass(frozen=True)
class Attr:
    element_name: str
    attribute_type: str
    column: str | None = None
    target: str | None = None
    read_only: bool = False
    required: bool = False
    # Settable on create only (Workspace).
    create_only: bool = False
    hidden: bool = False
    allowed: tuple[str, ...] | None = None
    # Computed value: fn(obj, ctx) → python value. Default: getattr along `column`.
    getter: Callable[[Any, Any], Any] | None = None
    # Collections: fn(owner) → queryset of members, and the ORM path from member to owner.
    members: Callable[[Any], models.QuerySet] | None = None
    member_owner: str | None = None
    writable_collection: bool = False
    # Allowed values that depend on the workspace (ScheduleState).
    allowed_for: Callable[[Workspace], list[str]] | None = None
    # Extra filter on members (a workspace's top-level projects: parent is null).
    member_filter: tuple[tuple[str, Any], ...] = ()
    custom: bool = False
    name: str = ""
    oid: int = 0

    @property
    def display(self) -> str:
        return self.name or display_name(self.element_name)

    def allowed_values(self, workspace: Workspace | None) -> list[str] | None:
        if self.allowed_for is not None and workspace is not None:
            return self.allowed_for(workspace)
        return list(self.allowed) if self.allowed is not None else None

    @property
    def is_object(self) -> bool:
        return self.attribute_type == "OBJECT"

    @property
    def is_collection(self) -> bool:
        return self.attribute_type == "COLLECTION"

    @property
    def filterable(self) -> bool:
        return self.column is not None and not self.hidden


@dataclass
class TypeSpec:
    type_path: str
    element_name: str
    model: type[models.Model]
    attributes: dict[str, Attr]
    ref_segment: str
    id_prefix: str = ""
    abstract: bool = False
    creatable: bool = True
    deletable: bool = True
    # ORM filter selecting this type's rows (artifact types share one table).
    filter: dict[str, Any] = field(default_factory=dict)
    # How the type is scoped: "workspace" (has workspace_id), "project" (has project_id too),
    # "subscription" (workspaces, users) or "global".
    scope: str = "workspace"
    ref_name: Callable[[Any], str] = lambda obj: getattr(obj, "name", "")
    oid_field: str = "object_id"
    # ORM path from a row to its workspace's ObjectID (for workspace-scoped queries).
    workspace_path: str = "workspace_id"
    subtypes: list[str] = field(default_factory=list)
    parent_type: str | None = None
    ordinal: int = -1
    # Fields select_related whenever objects of this type are rendered.
    always_related: tuple[str, ...] = ()

    @property
    def collection_segment(self) -> str:
        return self.type_path

    def attribute(self, name: str) -> Attr | None:
        attr = self.attributes.get(name)
        if attr is not None:
            return attr
        lowered = name.lower()
        for candidate in self.attributes.values():
            if candidate.element_name.lower() == lowered:
                return candidate
        return None

    def queryset(self) -> models.QuerySet:
        return self.model.objects.filter(**self.filter)


# --- attribute helpers --------------------------------------------------------------------


def a(element_name: str, attribute_type: str = "STRING", column: str | None = None, **kw) -> Attr:
    return Attr(element_name, attribute_type, column, **kw)


def ro(element_name: str, attribute_type: str = "STRING", column: str | None = None, **kw) -> Attr:
    return Attr(element_name, attribute_type, column, read_only=True, **kw)


def ref(element_name: str, target: str, column: str, **kw) -> Attr:
    return Attr(element_name, "OBJECT", column, target=target, **kw)


def coll(element_name: str, target: str, members=None, member_owner=None, **kw) -> Attr:
    return Attr(
        element_name, "COLLECTION", None, target=target, members=members,
        member_owner=member_owner, read_only=not kw.pop("writable", False), **kw,
    )  # fmt: skip


def empty_collection(element_name: str, target: str) -> Attr:
    # Collections Rally has but the sandbox does not model: always empty, never a 500.
    return coll(element_name, target, members=lambda owner: Artifact.objects.none())


def version_of(obj, ctx) -> str:
    return str(obj.version)


def schedule_states_of(workspace: Workspace) -> list[str]:
    return workspace.schedule_states


def subscription_of(obj, ctx):
    return ctx.subscription
