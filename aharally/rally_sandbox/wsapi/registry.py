"""The WSAPI types the sandbox serves, and their attributes.

One declaration per attribute drives everything else: the serialiser, the query compiler, the
write validation and the schema endpoint. `column` is the ORM path used to read, filter and sort.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import models

from aharally.rally_sandbox.accounts.models import Project, Subscription, User, Workspace

from .models import Artifact, Iteration, Milestone, Release, State, Tag, TypeDefinition

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


def _version(obj, ctx) -> str:
    return str(obj.version)


def _schedule_states(workspace: Workspace) -> list[str]:
    return workspace.schedule_states


def _ws(obj, ctx):
    return ctx.workspace_of(obj)


def _sub(obj, ctx):
    return ctx.subscription


PERSISTABLE = [
    ro("CreationDate", "DATE", "creation_date"),
    ro("ObjectID", "INTEGER", "object_id"),
    ro("ObjectUUID", "STRING", "uuid", getter=lambda obj, ctx: str(obj.uuid)),
    ro("VersionId", "STRING", "version", getter=_version),
    ref("Subscription", "Subscription", None, read_only=True, getter=_sub),
]
WORKSPACE_DOMAIN = [*PERSISTABLE, ref("Workspace", "Workspace", "workspace", create_only=True)]


def _children(owner):
    return Artifact.objects.filter(parent=owner)


ARTIFACT = [
    *WORKSPACE_DOMAIN,
    ro("FormattedID", "STRING", "formatted_number", getter=lambda obj, ctx: obj.formatted_id),
    a("Name", "STRING", "name", required=True),
    a("Description", "TEXT", "description"),
    a("Notes", "TEXT", "notes"),
    ref("Owner", "User", "owner"),
    ref("Project", "Project", "project", required=True),
    ref("CreatedBy", "User", "created_by", read_only=True),
    ro("LastUpdateDate", "DATE", "last_update_date"),
    a("DisplayColor", "STRING", "display_color"),
    a("Expedite", "BOOLEAN", "expedite"),
    a("Ready", "BOOLEAN", "ready"),
    ro("DragAndDropRank", "STRING", "rank", getter=lambda obj, ctx: f"{obj.rank:020.6f}"),
    coll("Tags", "Tag", members=lambda owner: owner.tags.all(), member_owner="artifacts",
         writable=True, writable_collection=True),
    coll("Milestones", "Milestone", members=lambda owner: owner.milestones.all(),
         member_owner="artifacts", writable=True, writable_collection=True),
    empty_collection("Discussion", "ConversationPost"),
    empty_collection("Attachments", "Attachment"),
]  # fmt: skip

SCHEDULABLE = [
    a("ScheduleState", "STATE", "schedule_state", allowed_for=_schedule_states),
    ro("ScheduleStatePrefix", "STRING", None,
       getter=lambda obj, ctx: _prefix(obj.schedule_state)),
    a("PlanEstimate", "QUANTITY", "plan_estimate"),
    ref("Release", "Release", "release"),
    ref("Iteration", "Iteration", "iteration"),
    a("Blocked", "BOOLEAN", "blocked"),
    a("BlockedReason", "STRING", "blocked_reason"),
    ro("AcceptedDate", "DATE", "accepted_date"),
    ro("InProgressDate", "DATE", "in_progress_date"),
    coll("Tasks", "Task", members=lambda owner: Artifact.objects.filter(work_product=owner),
         member_owner="work_product"),
    ro("TaskEstimateTotal", "QUANTITY", None, getter=lambda o, ctx: ctx.task_total(o, "estimate")),
    ro("TaskRemainingTotal", "QUANTITY", None, getter=lambda o, ctx: ctx.task_total(o, "to_do")),
    ro("TaskActualTotal", "QUANTITY", None, getter=lambda o, ctx: ctx.task_total(o, "actuals")),
]  # fmt: skip


def _prefix(schedule_state: str) -> str:
    return SCHEDULE_STATE_PREFIX.get(schedule_state, schedule_state[:1])


def _feature_of(obj, ctx):
    item = obj.portfolio_item
    return item if item is not None and item.type_path == "PortfolioItem/Feature" else None


STORY = [
    *ARTIFACT,
    *SCHEDULABLE,
    ref("Parent", "HierarchicalRequirement", "parent"),
    coll("Children", "HierarchicalRequirement", members=_children, member_owner="parent"),
    ref("PortfolioItem", "PortfolioItem", "portfolio_item"),
    ref("Feature", "PortfolioItem/Feature", "portfolio_item", read_only=True, getter=_feature_of),
    ro("DirectChildrenCount", "INTEGER", None, getter=lambda obj, ctx: ctx.count(obj, "Children")),
    ro("HasParent", "BOOLEAN", None, getter=lambda obj, ctx: obj.parent_id is not None),
    coll("Defects", "Defect", members=lambda owner: Artifact.objects.filter(requirement=owner),
         member_owner="requirement"),
]  # fmt: skip

DEFECT = [
    *ARTIFACT,
    *SCHEDULABLE,
    a("State", "RATING", "state", allowed=tuple(DEFECT_STATES)),
    a("Priority", "RATING", "priority", allowed=tuple(PRIORITIES)),
    a("Severity", "RATING", "severity", allowed=tuple(SEVERITIES)),
    a("Environment", "RATING", "environment", allowed=tuple(ENVIRONMENTS)),
    a("Resolution", "RATING", "resolution", allowed=tuple(RESOLUTIONS)),
    ref("Requirement", "HierarchicalRequirement", "requirement"),
    a("FoundInBuild", "STRING", "found_in_build"),
    a("FixedInBuild", "STRING", "fixed_in_build"),
    ro("OpenedDate", "DATE", "opened_date"),
    ro("ClosedDate", "DATE", "closed_date"),
    ref("SubmittedBy", "User", "submitted_by"),
]

TASK = [
    *ARTIFACT,
    a("State", "STATE", "state", allowed=tuple(TASK_STATES)),
    ref("WorkProduct", "SchedulableArtifact", "work_product", required=True),
    a("Estimate", "QUANTITY", "estimate"),
    a("ToDo", "QUANTITY", "to_do"),
    a("Actuals", "QUANTITY", "actuals"),
    a("Blocked", "BOOLEAN", "blocked"),
    a("BlockedReason", "STRING", "blocked_reason"),
    ref("Release", "Release", "release"),
    ref("Iteration", "Iteration", "iteration"),
    ro("TaskIndex", "INTEGER", "rank", getter=lambda obj, ctx: int(obj.rank)),
]


def _portfolio(level: int) -> list[Attr]:
    element, type_path, _prefix = PORTFOLIO_LEVELS[level]
    attrs = [
        *ARTIFACT,
        ref("State", "State", "pi_state"),
        ro("StateChangedDate", "DATE", "state_changed_date"),
        a("PlannedStartDate", "DATE", "planned_start_date"),
        a("PlannedEndDate", "DATE", "planned_end_date"),
        a("ActualStartDate", "DATE", "actual_start_date"),
        a("ActualEndDate", "DATE", "actual_end_date"),
        ro("PortfolioItemTypeName", "STRING", None, getter=lambda obj, ctx: element),
        ref("PortfolioItemType", "TypeDefinition", None, read_only=True,
            getter=lambda obj, ctx: ctx.typedef(type_path)),
        ro("DirectChildrenCount", "INTEGER", None,
           getter=lambda obj, ctx: ctx.count(obj, "UserStories" if level == 0 else "Children")),
        ro("LeafStoryCount", "INTEGER", None, getter=lambda obj, ctx: ctx.leaf(obj, "count")),
        ro("AcceptedLeafStoryCount", "INTEGER", None,
           getter=lambda obj, ctx: ctx.leaf(obj, "accepted")),
        ro("LeafStoryPlanEstimateTotal", "QUANTITY", None,
           getter=lambda obj, ctx: ctx.leaf(obj, "points")),
        ro("AcceptedLeafStoryPlanEstimateTotal", "QUANTITY", None,
           getter=lambda obj, ctx: ctx.leaf(obj, "accepted_points")),
        ro("PercentDoneByStoryCount", "DECIMAL", None,
           getter=lambda obj, ctx: ctx.leaf(obj, "percent_count")),
        ro("PercentDoneByStoryPlanEstimate", "DECIMAL", None,
           getter=lambda obj, ctx: ctx.leaf(obj, "percent_points")),
    ]  # fmt: skip
    if level + 1 < len(PORTFOLIO_LEVELS):
        attrs.append(ref("Parent", PORTFOLIO_LEVELS[level + 1][1], "parent"))
    if level == 0:
        attrs.append(ref("Release", "Release", "release"))
        attrs.append(
            coll("UserStories", "HierarchicalRequirement",
                 members=lambda owner: Artifact.objects.filter(portfolio_item=owner),
                 member_owner="portfolio_item")
        )  # fmt: skip
    else:
        attrs.append(coll("Children", PORTFOLIO_LEVELS[level - 1][1], members=_children,
                          member_owner="parent"))  # fmt: skip
    return attrs


def _user_ref_name(user: User) -> str:
    return user.display_name or user.username


RELEASE = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("ReleaseStartDate", "DATE", "start_date", required=True),
    a("ReleaseDate", "DATE", "release_date", required=True),
    a("State", "STRING", "state", allowed=tuple(RELEASE_STATES), required=True),
    a("Notes", "TEXT", "notes"),
    a("Theme", "TEXT", "theme"),
    a("Version", "STRING", "version_label"),
    a("PlannedVelocity", "QUANTITY", "planned_velocity"),
    ref("Project", "Project", "project", required=True),
    coll("WorkProducts", "Artifact", members=lambda owner: owner.artifacts.all(),
         member_owner="release"),
]  # fmt: skip

ITERATION = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("StartDate", "DATE", "start_date", required=True),
    a("EndDate", "DATE", "end_date", required=True),
    a("State", "STRING", "state", allowed=tuple(ITERATION_STATES), required=True),
    a("Notes", "TEXT", "notes"),
    a("Theme", "TEXT", "theme"),
    a("PlannedVelocity", "QUANTITY", "planned_velocity"),
    ref("Project", "Project", "project", required=True),
    coll("WorkProducts", "Artifact", members=lambda owner: owner.artifacts.all(),
         member_owner="iteration"),
    empty_collection("UserIterationCapacities", "UserIterationCapacity"),
]  # fmt: skip

MILESTONE = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("TargetDate", "DATE", "target_date"),
    a("Notes", "TEXT", "notes"),
    a("DisplayColor", "STRING", "display_color"),
    ref("TargetProject", "Project", "target_project"),
    coll("Artifacts", "Artifact", members=lambda owner: owner.artifacts.all(),
         member_owner="milestones"),
]  # fmt: skip

TAG = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("Archived", "BOOLEAN", "archived"),
]

STATE = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("OrderIndex", "INTEGER", "order_index"),
    ref("TypeDef", "TypeDefinition", "type_definition", required=True),
    a("Enabled", "BOOLEAN", "enabled"),
    a("WIPLimit", "INTEGER", "wip_limit"),
    a("Description", "TEXT", "description"),
]


def _type_flag(typedef, name: str, default: bool) -> bool:
    # Metadata types (AttributeDefinition…) have rows but no TypeSpec: they are not creatable.
    spec = SPECS.get(typedef.type_path)
    return getattr(spec, name) if spec is not None else default


def _schema_version(obj, ctx) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"schema-{ctx.workspace_of(obj).object_id}").hex


WORKSPACE = [
    *PERSISTABLE,
    a("Name", "STRING", "name", required=True),
    a("Description", "TEXT", "description"),
    a("State", "STRING", "state", allowed=("Open", "Closed")),
    ro("SchemaVersion", "STRING", None, getter=_schema_version),
    ro("Style", "STRING", None, getter=lambda obj, ctx: "UserStory"),
    coll("Projects", "Project", members=lambda owner: owner.projects.all(),
         member_owner="workspace"),
    coll("Children", "Project", members=lambda owner: owner.projects.filter(parent=None),
         member_owner="workspace", member_filter=(("parent", None),)),
    coll("TypeDefinitions", "TypeDefinition", members=lambda owner: owner.typedefs.all(),
         member_owner="workspace"),
]  # fmt: skip

PROJECT = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("Description", "TEXT", "description"),
    a("Notes", "TEXT", "notes"),
    ref("Owner", "User", "owner"),
    ref("Parent", "Project", "parent"),
    coll("Children", "Project", members=lambda owner: owner.children.all(), member_owner="parent"),
    a("State", "STRING", "state", allowed=("Open", "Closed")),
    ro("SchemaVersion", "STRING", None, getter=_schema_version),
    coll("Iterations", "Iteration", members=lambda owner: owner.iterations.all(),
         member_owner="project"),
    coll("Releases", "Release", members=lambda owner: owner.releases.all(), member_owner="project"),
    empty_collection("TeamMembers", "User"),
    empty_collection("Editors", "User"),
    empty_collection("Viewers", "User"),
    empty_collection("BuildDefinitions", "BuildDefinition"),
]  # fmt: skip

USER = [
    *PERSISTABLE,
    a("UserName", "STRING", "username", required=True),
    a("EmailAddress", "STRING", "email", required=True),
    a("DisplayName", "STRING", "display_name"),
    a("FirstName", "STRING", "first_name"),
    a("LastName", "STRING", "last_name"),
    ro("MiddleName", "STRING", None, getter=lambda obj, ctx: None),
    ro("ShortDisplayName", "STRING", None, getter=lambda obj, ctx: None),
    a("Disabled", "BOOLEAN", "disabled"),
    ro("SubscriptionAdmin", "BOOLEAN", "subscription_admin"),
    a("Role", "STRING", "role"),
    ref("UserProfile", "UserProfile", None, read_only=True, getter=lambda obj, ctx: obj),
    empty_collection("TeamMemberships", "Project"),
    empty_collection("UserPermissions", "UserPermission"),
]

USER_PROFILE = [
    ro("CreationDate", "DATE", "creation_date"),
    ro("ObjectID", "INTEGER", "profile_object_id"),
    ref("DefaultWorkspace", "Workspace", "default_workspace"),
    ref("DefaultProject", "Project", "default_project"),
    ro("TimeZone", "STRING", None, getter=lambda obj, ctx: "UTC"),
    ro("DateFormat", "STRING", None, getter=lambda obj, ctx: "yyyy-MM-dd"),
    ro("DateTimeFormat", "STRING", None, getter=lambda obj, ctx: "yyyy-MM-dd hh:mm a z"),
    ref("User", "User", None, read_only=True, getter=lambda obj, ctx: obj),
]

SUBSCRIPTION = [
    ro("CreationDate", "DATE", "creation_date"),
    ro("ObjectID", "INTEGER", "object_id"),
    ro("ObjectUUID", "STRING", "uuid", getter=lambda obj, ctx: str(obj.uuid)),
    ro("VersionId", "STRING", "version", getter=_version),
    a("Name", "STRING", "name"),
    ro("SubscriptionID", "INTEGER", "subscription_id"),
    ro("SubscriptionType", "STRING", None, getter=lambda obj, ctx: "Unlimited"),
    ro("ApiKeysEnabled", "BOOLEAN", "api_keys_enabled"),
    ro("WebhooksEnabled", "BOOLEAN", "webhooks_enabled"),
    ro("ProjectHierarchyEnabled", "BOOLEAN", None, getter=lambda obj, ctx: True),
    ro("StoryHierarchyEnabled", "BOOLEAN", None, getter=lambda obj, ctx: True),
    ro("StoryHierarchyType", "STRING", None, getter=lambda obj, ctx: "Unlimited"),
    ro("MaximumProjects", "INTEGER", None, getter=lambda obj, ctx: -1),
    ro("MaximumWorkspaces", "INTEGER", None, getter=lambda obj, ctx: -1),
    ro("ExpirationDate", "DATE", None, getter=lambda obj, ctx: None),
    coll("Workspaces", "Workspace", members=lambda owner: owner.workspaces.all(),
         member_owner="subscription"),
]  # fmt: skip

TYPEDEF = [
    *WORKSPACE_DOMAIN,
    ro("Name", "STRING", "name"),
    ro("ElementName", "STRING", "element_name"),
    ro("DisplayName", "STRING", "display_name"),
    ro("TypePath", "STRING", "type_path"),
    ro("IDPrefix", "STRING", "id_prefix"),
    ro("Ordinal", "INTEGER", "ordinal"),
    ro("Abstract", "BOOLEAN", None, getter=lambda obj, ctx: _type_flag(obj, "abstract", False)),
    ro("Creatable", "BOOLEAN", None, getter=lambda obj, ctx: _type_flag(obj, "creatable", False)),
    ro("ReadOnly", "BOOLEAN", None, getter=lambda obj, ctx: False),
    ro("Queryable", "BOOLEAN", None, getter=lambda obj, ctx: True),
    ro("Deletable", "BOOLEAN", None, getter=lambda obj, ctx: _type_flag(obj, "deletable", False)),
    ro("Restorable", "BOOLEAN", None, getter=lambda obj, ctx: False),
    ro("Copyable", "BOOLEAN", None, getter=lambda obj, ctx: False),
    ro("UserListable", "BOOLEAN", None, getter=lambda obj, ctx: True),
    ro("Note", "STRING", None, getter=lambda obj, ctx: ""),
    ref("Parent", "TypeDefinition", "parent", read_only=True),
    coll("Attributes", "AttributeDefinition"),
]  # fmt: skip


def _build_specs() -> dict[str, TypeSpec]:
    specs: dict[str, TypeSpec] = {}

    def add(spec: TypeSpec, attrs: list[Attr]) -> None:
        spec.attributes = {attr.element_name: attr for attr in attrs}
        specs[spec.type_path] = spec

    artifact_related = ("project", "workspace", "owner")
    add(
        TypeSpec(
            "HierarchicalRequirement",
            "HierarchicalRequirement",
            Artifact,
            {},
            "hierarchicalrequirement",
            "US",
            filter={"type_path": "HierarchicalRequirement"},
            scope="project",
            parent_type="Requirement",
            always_related=artifact_related,
        ),
        STORY,
    )
    add(
        TypeSpec(
            "Defect",
            "Defect",
            Artifact,
            {},
            "defect",
            "DE",
            filter={"type_path": "Defect"},
            scope="project",
            parent_type="SchedulableArtifact",
            always_related=artifact_related,
        ),
        DEFECT,
    )
    add(
        TypeSpec(
            "Task",
            "Task",
            Artifact,
            {},
            "task",
            "TA",
            filter={"type_path": "Task"},
            scope="project",
            parent_type="Artifact",
            always_related=artifact_related,
        ),
        TASK,
    )
    for level, (element, path, prefix) in enumerate(PORTFOLIO_LEVELS):
        add(
            TypeSpec(
                path,
                element,
                Artifact,
                {},
                path.lower(),
                prefix,
                filter={"type_path": path},
                scope="project",
                parent_type="PortfolioItem",
                ordinal=level,
                always_related=(*artifact_related, "pi_state"),
            ),
            _portfolio(level),
        )
    common = [attr for attr in ARTIFACT]
    schedulable_common = [*ARTIFACT, *SCHEDULABLE]
    pi_common = [attr for attr in _portfolio(1) if attr.element_name not in {"Parent", "Children"}]
    for path, subtypes, attrs, parent in [
        ("Artifact", ARTIFACT_PATHS, common, None),
        (
            "SchedulableArtifact",
            ["HierarchicalRequirement", "Defect"],
            schedulable_common,
            "Artifact",
        ),
        ("Requirement", ["HierarchicalRequirement"], schedulable_common, "SchedulableArtifact"),
        ("PortfolioItem", PORTFOLIO_PATHS, pi_common, "Artifact"),
    ]:
        add(
            TypeSpec(
                path,
                path,
                Artifact,
                {},
                path.lower(),
                abstract=True,
                creatable=False,
                deletable=False,
                filter={"type_path__in": subtypes},
                scope="project",
                subtypes=subtypes,
                parent_type=parent,
                always_related=artifact_related,
            ),
            attrs,
        )
    add(
        TypeSpec(
            "Release",
            "Release",
            Release,
            {},
            "release",
            scope="project",
            always_related=("project",),
        ),
        RELEASE,
    )
    add(
        TypeSpec(
            "Iteration",
            "Iteration",
            Iteration,
            {},
            "iteration",
            scope="project",
            always_related=("project",),
        ),
        ITERATION,
    )
    add(TypeSpec("Milestone", "Milestone", Milestone, {}, "milestone"), MILESTONE)
    add(TypeSpec("Tag", "Tag", Tag, {}, "tag"), TAG)
    add(
        TypeSpec(
            "State",
            "State",
            State,
            {},
            "state",
            creatable=False,
            deletable=False,
            always_related=("type_definition",),
        ),
        STATE,
    )
    add(
        TypeSpec(
            "TypeDefinition",
            "TypeDefinition",
            TypeDefinition,
            {},
            "typedefinition",
            creatable=False,
            deletable=False,
        ),
        TYPEDEF,
    )
    add(
        TypeSpec(
            "Workspace",
            "Workspace",
            Workspace,
            {},
            "workspace",
            scope="subscription",
            creatable=False,
            deletable=False,
        ),
        WORKSPACE,
    )
    add(
        TypeSpec(
            "Project",
            "Project",
            Project,
            {},
            "project",
            deletable=False,
            always_related=("parent",),
        ),
        PROJECT,
    )
    add(
        TypeSpec(
            "User",
            "User",
            User,
            {},
            "user",
            scope="subscription",
            creatable=False,
            deletable=False,
            ref_name=_user_ref_name,
        ),
        USER,
    )
    add(
        TypeSpec(
            "UserProfile",
            "UserProfile",
            User,
            {},
            "userprofile",
            scope="subscription",
            creatable=False,
            deletable=False,
            ref_name=lambda obj: "",
            oid_field="profile_object_id",
        ),
        USER_PROFILE,
    )
    add(
        TypeSpec(
            "Subscription",
            "Subscription",
            Subscription,
            {},
            "subscription",
            scope="global",
            creatable=False,
            deletable=False,
        ),
        SUBSCRIPTION,
    )
    # Synthetic OIDs for built-in attribute definitions: negative, as on Rally.
    for type_index, spec in enumerate(specs.values()):
        spec.attributes = {
            name: replace(attr, oid=-(10000 + type_index * 200 + index))
            for index, (name, attr) in enumerate(spec.attributes.items())
        }
    return specs  # fmt: skip


SPECS: dict[str, TypeSpec] = _build_specs()
ATTRIBUTES_BY_OID: dict[int, tuple[TypeSpec, Attr]] = {
    attr.oid: (spec, attr) for spec in SPECS.values() for attr in spec.attributes.values()
}

_ALIASES = {
    "story": "HierarchicalRequirement",
    "userstory": "HierarchicalRequirement",
    "feature": "PortfolioItem/Feature",
    "initiative": "PortfolioItem/Initiative",
    "theme": "PortfolioItem/Theme",
    "users": "User",
    "subscriptions": "Subscription",
}
_BY_LOWER = {path.lower(): path for path in SPECS}
_BY_LOWER.update({spec.element_name.lower(): path for path, spec in SPECS.items()})


def spec_for_name(name: str) -> TypeSpec | None:
    """A type by type path or element name, case-insensitively (`portfolioitem/feature`)."""
    lowered = name.strip().strip("/").lower()
    path = _BY_LOWER.get(lowered) or _ALIASES.get(lowered)
    return SPECS.get(path) if path else None


def spec_for_object(obj: Any, hint: TypeSpec | None = None) -> TypeSpec:
    """The concrete type of a stored object (artifacts carry their type path)."""
    if isinstance(obj, Artifact):
        return SPECS[obj.type_path]
    if hint is not None and not hint.abstract:
        return hint
    for spec in SPECS.values():
        if spec.model is type(obj) and not spec.abstract and spec.type_path != "UserProfile":
            return spec
    raise LookupError(type(obj).__name__)


def is_subtype(type_path: str, target: str) -> bool:
    spec = SPECS.get(target)
    if spec is None:
        return False
    return type_path == target or type_path in spec.subtypes
