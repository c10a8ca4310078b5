"""The attributes of every WSAPI type the sandbox serves, declared once (see typespec.py)."""

from __future__ import annotations

import uuid

from rally_sandbox.accounts.models import User

from .models import Artifact
from .typespec import (
    DEFECT_STATES,
    ENVIRONMENTS,
    ITERATION_STATES,
    PORTFOLIO_LEVELS,
    PRIORITIES,
    RELEASE_STATES,
    RESOLUTIONS,
    SCHEDULE_STATE_PREFIX,
    SEVERITIES,
    TASK_STATES,
    Attr,
    a,
    coll,
    empty_collection,
    ref,
    ro,
    schedule_states_of,
    subscription_of,
    version_of,
)

PERSISTABLE = [
    ro("CreationDate", "DATE", "creation_date"),
    ro("ObjectID", "INTEGER", "object_id"),
    ro("ObjectUUID", "STRING", "uuid", getter=lambda obj, ctx: str(obj.uuid)),
    ro("VersionId", "STRING", "version", getter=version_of),
    ref("Subscription", "Subscription", None, read_only=True, getter=subscription_of),
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
    coll("Discussion", "ConversationPost", members=lambda owner: owner.discussion.all(),
         member_owner="artifact"),
    coll("Attachments", "Attachment", members=lambda owner: owner.attachments.all(),
         member_owner="artifact"),
    # The history is a separate object in Rally; here it shares its artifact's ObjectID.
    ref("RevisionHistory", "RevisionHistory", None, read_only=True, getter=lambda obj, ctx: obj),
]  # fmt: skip

SCHEDULABLE = [
    a("ScheduleState", "STATE", "schedule_state", allowed_for=schedule_states_of),
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
    """A story's Feature: its own PortfolioItem, or the nearest parent story's (read-only)."""
    seen = set()
    story = obj
    while story is not None and story.pk not in seen:
        seen.add(story.pk)
        if story.portfolio_item_id is not None:
            item = story.portfolio_item
            return item if item.type_path == PORTFOLIO_LEVELS[0][1] else None
        story = story.parent if story.parent_id is not None else None
    return None


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
        # Rally's numeric estimate of a portfolio item (points), kept in the column a story
        # keeps its PlanEstimate in: a portfolio item has no PlanEstimate, and rollups read
        # the stories' column only.
        a("RefinedEstimate", "QUANTITY", "plan_estimate"),
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
    # Rally's Release has it, and a catch-up asks `(LastUpdateDate > cursor)` of releases too.
    ro("LastUpdateDate", "DATE", "last_update_date"),
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
    from .registry import SPECS

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

# Rally names a permission after what it opens (the project or workspace).
PROJECT_PERMISSION = [
    *PERSISTABLE,
    ro("Name", "STRING", "project__name"),
    ro("Role", "STRING", "role", allowed=("Viewer", "Editor", "Admin")),
    ref("User", "User", "user", read_only=True),
    ref("Project", "Project", "project", read_only=True),
]

WORKSPACE_PERMISSION = [
    *PERSISTABLE,
    ro("Name", "STRING", "workspace__name"),
    ro("Role", "STRING", "role", allowed=("User", "Admin")),
    ref("User", "User", "user", read_only=True),
    ref("Workspace", "Workspace", "workspace", read_only=True),
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
    ro("VersionId", "STRING", "version", getter=version_of),
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

REVISION_HISTORY = [
    ro("CreationDate", "DATE", "creation_date"),
    ro("ObjectID", "INTEGER", "object_id"),
    coll("Revisions", "Revision", members=lambda owner: owner.revisions.all(),
         member_owner="artifact"),
]  # fmt: skip

REVISION = [
    *PERSISTABLE,
    ro("RevisionNumber", "INTEGER", "revision_number"),
    ro("Description", "TEXT", "description"),
    ref("User", "User", "user", read_only=True),
    ref("RevisionHistory", "RevisionHistory", "artifact", read_only=True),
]

# An artifact's Discussion: Artifact, Text (HTML), User (the caller unless given), PostNumber
# (Rally's count of the artifact's posts, assigned on create) — WSAPI.md §4.8.
CONVERSATION_POST = [
    *WORKSPACE_DOMAIN,
    ref("Artifact", "Artifact", "artifact", required=True),
    a("Text", "TEXT", "text", required=True),
    ref("User", "User", "user"),
    ro("PostNumber", "INTEGER", "post_number"),
]

# Two creates, as pyral's addAttachment does them (WSAPI.md §4.7): the bytes, base64, as
# AttachmentContent; then the Attachment naming them, with the raw Size and its ContentType.
ATTACHMENT_CONTENT = [
    *WORKSPACE_DOMAIN,
    # Checked (base64) and capped (50,000,000 bytes decoded) by discussion.rules.
    a("Content", "RAW", "content", required=True),
]

ATTACHMENT = [
    *WORKSPACE_DOMAIN,
    a("Name", "STRING", "name", required=True),
    a("Description", "TEXT", "description"),
    ref("Content", "AttachmentContent", "content", required=True),
    a("ContentType", "STRING", "content_type"),
    a("Size", "INTEGER", "size", required=True),
    ref("User", "User", "user"),
    ref("Artifact", "Artifact", "artifact"),
]
