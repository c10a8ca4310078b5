"""The WSAPI types the sandbox serves (SPECS) and how to find them by name or by object."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rally_sandbox.accounts.models import (
    Project,
    ProjectPermission,
    Subscription,
    User,
    Workspace,
    WorkspacePermission,
)

from .attributes import (
    ARTIFACT,
    ATTACHMENT,
    ATTACHMENT_CONTENT,
    CONVERSATION_POST,
    DEFECT,
    ITERATION,
    MILESTONE,
    PROJECT,
    PROJECT_PERMISSION,
    RELEASE,
    REVISION,
    REVISION_HISTORY,
    SCHEDULABLE,
    STATE,
    STORY,
    SUBSCRIPTION,
    TAG,
    TASK,
    TYPEDEF,
    USER,
    USER_PROFILE,
    WORKSPACE,
    WORKSPACE_PERMISSION,
    _portfolio,
    _user_ref_name,
)
from .models import (
    Artifact,
    Attachment,
    AttachmentContent,
    ConversationPost,
    Iteration,
    Milestone,
    Release,
    Revision,
    State,
    Tag,
    TypeDefinition,
)
from .typespec import (  # noqa: F401 - re-exported: the rest of the sandbox imports them here
    ARTIFACT_PATHS,
    PORTFOLIO_LEVELS,
    PORTFOLIO_PATHS,
    SCHEDULE_STATES,
    Attr,
    TypeSpec,
    display_name,
    ref,
)


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
    # Any portfolio item may have a parent one level up (none for the top level).
    pi_common = [
        *(attr for attr in _portfolio(1) if attr.element_name not in {"Parent", "Children"}),
        ref("Parent", "PortfolioItem", "parent"),
    ]
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
    # Who may see a project, and who administers a workspace (and so sees all its projects).
    # Read-only here: the sandbox's admin API grants them (POST /sandbox-admin/users).
    for path, model, attrs, owner in [
        ("ProjectPermission", ProjectPermission, PROJECT_PERMISSION, "project"),
        ("WorkspacePermission", WorkspacePermission, WORKSPACE_PERMISSION, "workspace"),
    ]:
        add(
            TypeSpec(
                path,
                path,
                model,
                {},
                path.lower(),
                scope="subscription",
                creatable=False,
                deletable=False,
                ref_name=lambda obj, owner=owner: getattr(obj, owner).name,
                always_related=("user", owner),
            ),
            attrs,
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
    add(
        TypeSpec(
            "RevisionHistory",
            "RevisionHistory",
            Artifact,
            {},
            "revisionhistory",
            creatable=False,
            deletable=False,
            ref_name=lambda obj: "",
        ),
        REVISION_HISTORY,
    )
    add(
        TypeSpec(
            "Revision",
            "Revision",
            Revision,
            {},
            "revision",
            creatable=False,
            deletable=False,
            ref_name=lambda obj: f"Revision {obj.revision_number}",
            workspace_path="artifact__workspace_id",
            always_related=("user",),
        ),
        REVISION,
    )
    add(
        TypeSpec(
            "ConversationPost",
            "ConversationPost",
            ConversationPost,
            {},
            "conversationpost",
            ref_name=lambda obj: f"Post {obj.post_number}",
            always_related=("user", "artifact"),
        ),
        CONVERSATION_POST,
    )
    add(
        TypeSpec(
            "AttachmentContent",
            "AttachmentContent",
            AttachmentContent,
            {},
            "attachmentcontent",
            ref_name=lambda obj: "",
        ),
        ATTACHMENT_CONTENT,
    )
    add(
        TypeSpec(
            "Attachment",
            "Attachment",
            Attachment,
            {},
            "attachment",
            ref_name=lambda obj: obj.name,
            always_related=("user", "artifact"),
        ),
        ATTACHMENT,
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
    """The concrete type of a stored object (artifacts carry their type path).

    A hint without a type filter (RevisionHistory, UserProfile) is another view of the same row
    and wins.
    """
    if hint is not None and not hint.abstract and not hint.filter and isinstance(obj, hint.model):
        return hint
    if isinstance(obj, Artifact):
        return SPECS[obj.type_path]
    if hint is not None and not hint.abstract:
        return hint
    for spec in SPECS.values():
        if spec.model is type(obj) and not spec.abstract and spec.type_path not in _VIEWS:
            return spec
    raise LookupError(type(obj).__name__)


_VIEWS = {"UserProfile", "RevisionHistory"}


def is_subtype(type_path: str, target: str) -> bool:
    spec = SPECS.get(target)
    if spec is None:
        return False
    return type_path == target or type_path in spec.subtypes
