"""Write services: create, update and delete Rally objects with Rally's validation.

The WSAPI views, /batch, the seed and the sandbox's web UI all write through these functions,
so every change is validated the same way and announced (after commit) to webhooks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Max, Min, ProtectedError
from django.utils import timezone

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import (
    Project,
    User,
    Workspace,
    allocate,
    new_object_ids,
)

from . import discussion, rollups
from .changes import (
    add_revision,
    changes_wanted,
    current_or_members,
    current_value,
    diff,
    notify_artifact_changed,
    revision_text,
    snapshot,
)
from .conversion import FieldConverter, attributes_for
from .models import Artifact, RequiredField
from .registry import (
    PORTFOLIO_PATHS,
    Attr,
    TypeSpec,
    display_name,
    is_subtype,
    spec_for_object,
)
from .render import custom_stored

IDENTITY_FIELDS = {
    "objectid", "formattedid", "objectuuid", "versionid", "creationdate", "lastupdatedate",
    "subscription", "_ref", "_refobjectuuid", "_refobjectname", "_type", "_objectversion",
}  # fmt: skip
ACCEPTED_STATES = {"Accepted", "Released"}


class WriteError(Exception):
    """The write was refused; `errors` holds Rally's messages (nothing was saved)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class WriteOutcome:
    obj: Any
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


# --- create and update ---------------------------------------------------------------------


def _required(spec: TypeSpec, workspace: Workspace, attrs: dict[str, Attr]) -> list[Attr]:
    def load() -> frozenset[str]:
        rows = RequiredField.objects.filter(workspace=workspace, type_path=spec.type_path)
        return frozenset(rows.values_list("element_name", flat=True))

    rules = generation.cached(("required", workspace.pk, spec.type_path), load)
    return [attr for attr in attrs.values() if attr.required or attr.element_name in rules]


def _set(obj, attr: Attr, value) -> bool:
    """Store a converted value; False when it is null and the attribute cannot be."""
    if attr.custom:
        obj.custom = {**(obj.custom or {}), attr.element_name: custom_stored(value)}
        return True
    field = obj._meta.get_field(attr.column)
    if value is None and not field.null:
        if attr.attribute_type in {"STRING", "TEXT", "STATE", "RATING"}:
            value = ""
        elif attr.attribute_type == "BOOLEAN":
            value = False  # Rally's booleans are never null: clearing one makes it false
        else:
            return False
    setattr(obj, attr.column, value)
    return True


def save_object(
    *,
    spec: TypeSpec,
    user: User,
    workspace: Workspace,
    fields: dict[str, Any],
    obj=None,
    default_project: Project | None = None,
) -> WriteOutcome:
    """Create (obj=None) or update `obj` from WSAPI field values; raises WriteError."""
    if not isinstance(fields, dict):
        raise WriteError(["Cannot parse object: the type's value must be a JSON object"])
    creating = obj is None
    if creating and (spec.abstract or not spec.creatable):
        raise WriteError([f"Cannot create objects of type {spec.element_name}"])
    if not creating:
        spec = spec_for_object(obj, spec)
        if getattr(obj, "workspace_id", workspace.pk) != workspace.pk:
            workspace = obj.workspace
    attrs = attributes_for(spec, workspace)
    conv = FieldConverter(spec, user, workspace, attrs)
    before = (
        snapshot(obj) if (not creating and isinstance(obj, Artifact) and changes_wanted()) else None
    )
    # Portfolio items whose roll-ups count this artifact before the change (loaded from the
    # database, before the request's values are applied).
    owners_before = rollups.items_above(obj) if isinstance(obj, Artifact) else []
    if creating:
        # The ObjectID is allocated in the saving transaction below (0 is a placeholder), so a
        # create costs one transaction and a refused one allocates nothing.
        model_fields = spec.filter if spec.model is Artifact else {}
        obj = spec.model(object_id=0, **model_fields)
        if hasattr(obj, "workspace_id"):
            obj.workspace = workspace
    m2m: dict[str, list] = {}
    given: set[str] = set()
    # Values before the change, for the revision history entry.
    old_values: dict[str, tuple[Attr, Any]] = {}
    for name, value in fields.items():
        attr = conv.find(name)
        if attr is None:
            if name.lower() not in IDENTITY_FIELDS:
                conv.ignored(name)
            continue
        if attr.element_name == "Workspace":
            target = conv.reference(attr, value) if value is not None else None
            if target is not None and target.pk != workspace.pk:
                conv.errors.append(
                    f"Validation error: {spec.element_name}.Workspace cannot be changed"
                )
            continue
        if attr.read_only and not attr.writable_collection:
            if name.lower() not in IDENTITY_FIELDS:
                conv.ignored(name)
            continue
        if not creating and isinstance(obj, Artifact) and attr.element_name not in old_values:
            old_values[attr.element_name] = (attr, current_or_members(obj, attr))
        errors_before = len(conv.errors)
        converted = conv.convert(attr, value)
        given.add(attr.element_name)
        if attr.is_collection and not attr.custom:
            m2m[attr.column or attr.element_name] = converted or []
            continue
        # A value refused already needs no second error for being empty.
        if not _set(obj, attr, converted) and len(conv.errors) == errors_before:
            conv.errors.append(f"Validation error: {conv.label(attr)} should not be null")
    if creating:
        _defaults(obj, spec, user, workspace, default_project, given)
        discussion.defaults(obj, user)
    _rules(obj, spec, conv, creating)
    discussion.rules(obj, conv.errors)
    for attr in _required(spec, workspace, attrs):
        value = current_value(obj, attr)
        # "None" is the empty choice of a drop-down (RATING) such as Severity.
        if value in (None, "", []) or (attr.attribute_type == "RATING" and value == "None"):
            conv.errors.append(f"Validation error: {conv.label(attr)} should not be null")
    if conv.errors:
        raise WriteError(list(dict.fromkeys(conv.errors)))
    _side_effects(obj, spec, before_state=before)
    owners = _union(owners_before, rollups.items_above(obj)) if isinstance(obj, Artifact) else []
    # A new story placed under a portfolio item is a leaf there: LeafStoryCount grows by one in
    # every item above it, so all of them change and need no before-and-after figures (which
    # cost some ten queries a create).
    new_leaf = bool(owners) and creating and obj.type_path == rollups.STORY and not obj.parent_id
    rollups_before = rollups.snapshot(owners) if owners and not new_leaf else {}
    revision_oid = None
    with transaction.atomic():
        if creating:
            # One counter update for both the artifact and its "Original revision".
            oids = new_object_ids(2) if isinstance(obj, Artifact) else new_object_ids(1)
            obj.object_id, revision_oid = oids[0], oids[-1]
            if isinstance(obj, Artifact):
                obj.formatted_prefix = spec.id_prefix
                obj.formatted_number = allocate(f"fid:{workspace.pk}:{spec.id_prefix}")[0]
                obj.rank = float(obj.formatted_number) if not obj.rank else obj.rank
            discussion.number(obj)
            obj.save()
        else:
            obj.version += 1
            obj.save()
        for name, members in m2m.items():
            getattr(obj, name.lower()).set(members)
        if creating:
            # The collections a new object was given (render.RenderContext.fresh).
            obj.created_with = frozenset(attr.element_name for attr in attrs.values()
                                         if (attr.column or attr.element_name) in m2m)  # fmt: skip
        if isinstance(obj, Artifact):
            text = "Original revision" if creating else revision_text(obj, old_values)
            if text:
                add_revision(artifact=obj, description=text, user=user, object_id=revision_oid)
        if owners and new_leaf:
            rollups.touch([item.pk for item in owners])
        elif owners:
            rollups.touch_changed(rollups_before, owners)
    outcome = WriteOutcome(obj=obj, warnings=conv.warnings)
    if isinstance(obj, discussion.DISCUSSION_TYPES):
        discussion.announce(obj, action="Created" if creating else "Updated", user=user)
    if isinstance(obj, Artifact):
        if creating:
            notify_artifact_changed(action="Created", artifact=obj, changes={}, actor=user)
        elif before is not None:
            outcome.changes = diff(before, snapshot(obj))
            notify_artifact_changed(
                action="Updated", artifact=obj, changes=outcome.changes, actor=user
            )
    return outcome


def _union(*lists: list[Artifact]) -> list[Artifact]:
    found: dict[int, Artifact] = {}
    for items in lists:
        for item in items:
            found.setdefault(item.pk, item)
    return list(found.values())


def _defaults(obj, spec, user, workspace, default_project, given) -> None:
    if hasattr(obj, "project_id") and "Project" in spec.attributes and obj.project_id is None:
        project = default_project
        if project is None or project.workspace_id != workspace.pk:
            project = None
            if user.default_project_id:
                project = Project.objects.filter(
                    pk=user.default_project_id, workspace=workspace
                ).first()
            project = project or workspace.projects.filter(state="Open").order_by("name").first()
        obj.project = project
    if not isinstance(obj, Artifact):
        return
    obj.created_by = user
    if "ScheduleState" in spec.attributes and not obj.schedule_state:
        obj.schedule_state = "Defined"
    if spec.type_path == "Defect":
        obj.state = obj.state or "Submitted"
        obj.submitted_by = obj.submitted_by or user
        obj.opened_date = timezone.now()
        for column in ("priority", "severity", "environment", "resolution"):
            if not getattr(obj, column) and column.capitalize() not in given:
                setattr(obj, column, "None")
    if spec.type_path == "Task" and not obj.state:
        obj.state = "Defined"
    if spec.type_path in PORTFOLIO_PATHS and obj.pi_state_id:
        obj.state_changed_date = timezone.now()


def _rules(obj, spec: TypeSpec, conv: FieldConverter, creating: bool) -> None:
    project = getattr(obj, "project", None) if getattr(obj, "project_id", None) else None
    if project is not None and project.state == "Closed" and isinstance(obj, Artifact):
        conv.errors.append(
            f"Validation error: {spec.element_name}.Project cannot be a closed project"
        )
    if not isinstance(obj, Artifact):
        if (
            isinstance(obj, Project)
            and obj.parent_id is not None
            and (obj.parent.workspace_id != obj.workspace_id or _is_descendant(obj.parent, obj))
        ):
            conv.errors.append("Validation error: Project.Parent is not a valid parent")
        return
    if spec.type_path == "HierarchicalRequirement":
        if obj.parent_id is not None and obj.portfolio_item_id is not None:
            conv.errors.append(
                "Validation error: HierarchicalRequirement.parentArtifact should not be set if "
                "HierarchicalRequirement.Parent is set and vice versa"
            )
        if obj.parent_id is not None and _is_descendant(obj.parent, obj):
            conv.errors.append(
                "Validation error: HierarchicalRequirement.Parent cannot be the story itself or "
                "one of its children"
            )
        if obj.portfolio_item_id is not None and obj.portfolio_item.type_path != PORTFOLIO_PATHS[0]:
            conv.errors.append(
                "Validation error: HierarchicalRequirement.PortfolioItem must be a "
                f"{PORTFOLIO_PATHS[0].split('/')[1]}"
            )
    work_product = obj.work_product if obj.work_product_id else None
    if work_product is not None and not is_subtype(work_product.type_path, "SchedulableArtifact"):
        conv.errors.append("Validation error: Task.WorkProduct must be a story or a defect")
    state = obj.pi_state if obj.pi_state_id else None
    if state is not None and state.type_definition.type_path != spec.type_path:
        conv.errors.append(
            f'Validation error: {spec.element_name}.State "{obj.pi_state.name}" is not a '
            f"state of {spec.element_name}"
        )


def _is_descendant(candidate, obj) -> bool:
    """Whether `candidate` is `obj` or below it (a parent link would make a cycle)."""
    if obj.pk is None:
        return False
    seen = set()
    current = candidate
    while current is not None and current.pk not in seen:
        if current.pk == obj.pk:
            return True
        seen.add(current.pk)
        current = current.parent
    return False


def _side_effects(obj, spec: TypeSpec, *, before_state) -> None:
    if not isinstance(obj, Artifact):
        return
    now = timezone.now()
    if obj.schedule_state:
        states = obj.workspace.schedule_states
        index = states.index(obj.schedule_state) if obj.schedule_state in states else 0
        if index >= states.index("In-Progress") and obj.in_progress_date is None:
            obj.in_progress_date = now
        if obj.schedule_state in ACCEPTED_STATES:
            obj.accepted_date = obj.accepted_date or now
        else:
            obj.accepted_date = None
    if spec.type_path == "Defect":
        obj.closed_date = (obj.closed_date or now) if obj.state == "Closed" else None
    # A new object's ObjectID is the placeholder 0 until it is saved: it has no old state.
    if spec.type_path in PORTFOLIO_PATHS and not obj.pk:
        if obj.pi_state_id is not None:
            obj.state_changed_date = now
    elif spec.type_path in PORTFOLIO_PATHS:
        old = Artifact.objects.filter(pk=obj.pk).values_list("pi_state_id", flat=True).first()
        if old != obj.pi_state_id:
            obj.state_changed_date = now


def delete_object(*, spec: TypeSpec, obj, user: User) -> None:
    if not spec_for_object(obj, spec).deletable:
        raise WriteError([f"Cannot delete objects of type {spec.element_name}"])
    snapshot = copy.copy(obj)
    # A story's or defect's tasks go with it, and webhooks hear about each of them.
    # Their relations are loaded now: the rows they point at may be gone when webhooks render.
    tasks = []
    if isinstance(obj, Artifact):
        tasks = list(
            Artifact.objects.filter(work_product=obj).select_related(
                "work_product",
                "project",
                "workspace",
                "owner",
                "created_by",
                "release",
                "iteration",
            )
        )
    owners = rollups.items_above(obj) if isinstance(obj, Artifact) else []
    rollups_before = rollups.snapshot(owners) if owners else {}
    try:
        with transaction.atomic():
            obj.delete()
            if owners:
                rollups.touch_changed(rollups_before, owners)
    except ProtectedError:
        raise WriteError(
            [f"Could not delete: {spec.element_name} {obj.pk} is still referenced"]
        ) from None
    if isinstance(snapshot, discussion.DISCUSSION_TYPES):
        discussion.announce(snapshot, action="Deleted", user=user)
    if isinstance(snapshot, Artifact):
        for task in tasks:
            notify_artifact_changed(action="Deleted", artifact=task, changes={}, actor=user)
        notify_artifact_changed(action="Deleted", artifact=snapshot, changes={}, actor=user)


def rank(*, obj: Artifact, above=None, below=None, to: str | None = None) -> None:
    """Move `obj` in DragAndDropRank order among artifacts of its workspace."""
    peers = Artifact.objects.filter(workspace_id=obj.workspace_id).exclude(pk=obj.pk)
    if to:
        bounds = peers.aggregate(low=Min("rank"), high=Max("rank"))
        if to.upper() == "TOP":
            obj.rank = (bounds["low"] or 0) - 1
        else:
            obj.rank = (bounds["high"] or 0) + 1
    elif above is not None:
        lower = peers.filter(rank__lt=above.rank).aggregate(r=Max("rank"))["r"]
        obj.rank = (above.rank + lower) / 2 if lower is not None else above.rank - 1
    elif below is not None:
        higher = peers.filter(rank__gt=below.rank).aggregate(r=Min("rank"))["r"]
        obj.rank = (below.rank + higher) / 2 if higher is not None else below.rank + 1


def change_members(
    *, obj: Artifact, collection: str, members: list, add: bool, user: User
) -> WriteOutcome:
    before = snapshot(obj) if changes_wanted() else None
    with transaction.atomic():
        manager = getattr(obj, collection.lower())
        if add:
            manager.add(*members)
        else:
            manager.remove(*members)
        obj.version += 1
        obj.save(update_fields=["version", "last_update_date"])
        names = ", ".join(sorted(member.name for member in members))
        label = display_name(collection).upper()
        add_revision(
            artifact=obj,
            description=f"{label} {'added' if add else 'removed'} [{names}]",
            user=user,
        )
    outcome = WriteOutcome(obj=obj)
    if before is not None:
        outcome.changes = diff(before, snapshot(obj))
        notify_artifact_changed(action="Updated", artifact=obj, changes=outcome.changes, actor=user)
    return outcome
