"""Workspace configuration by its owners: general settings, workflows, custom layouts."""

from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError

from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.models import (
    RecordType,
    RequiredField,
    StatusCategory,
    WorkflowStatus,
    Workspace,
    prefix_validator,
)

# The fields a custom layout may make required, per record type, with their labels.
# Name and status are always filled (status defaults to the workflow's first), so they
# are not listed; a feature's release is always required.
LAYOUT_FIELDS: dict[str, list[tuple[str, str]]] = {
    RecordType.RELEASE: [
        ("description", "Description"),
        ("start_date", "Start date"),
        ("release_date", "Release date"),
    ],
    RecordType.INITIATIVE: [
        ("description", "Description"),
        ("assignee", "Assignee"),
        ("start_date", "Start date"),
        ("due_date", "Due date"),
    ],
    RecordType.EPIC: [
        ("description", "Description"),
        ("release", "Release"),
        ("initiative", "Initiative"),
        ("assignee", "Assignee"),
        ("start_date", "Start date"),
        ("due_date", "Due date"),
    ],
    RecordType.FEATURE: [
        ("description", "Description"),
        ("epic", "Epic"),
        ("initiative", "Initiative"),
        ("assignee", "Assignee"),
        ("tags", "Tags"),
        ("start_date", "Start date"),
        ("due_date", "Due date"),
        ("estimate", "Estimate"),
    ],
    RecordType.REQUIREMENT: [
        ("description", "Description"),
        ("assignee", "Assignee"),
        ("tags", "Tags"),
        ("start_date", "Start date"),
        ("due_date", "Due date"),
        ("estimate", "Estimate"),
    ],
}

_RECORD_MODELS = {
    RecordType.RELEASE: "Release",
    RecordType.INITIATIVE: "Initiative",
    RecordType.EPIC: "Epic",
    RecordType.FEATURE: "Feature",
    RecordType.REQUIREMENT: "Requirement",
}


def record_model(record_type: str):
    # Looked up through the app registry: records depends on workspaces, not the reverse.
    return apps.get_model("records", _RECORD_MODELS[record_type])


def prefix_is_locked(workspace: Workspace) -> bool:
    """True once the workspace holds a record whose reference people may have used.

    References (PLAT-12) are stored on the records and quoted in links, emails and other
    tools (Rally later); changing the prefix afterwards would break or disown them. A new
    workspace only holds its parking lot, whose reference is rewritten with the prefix.
    """
    Release = record_model(RecordType.RELEASE)
    if Release.objects.filter(workspace=workspace, is_parking_lot=False).exists():
        return True
    return any(
        record_model(t).objects.filter(workspace=workspace).exists()
        for t in (RecordType.INITIATIVE, RecordType.EPIC, RecordType.FEATURE)
    )


@transaction.atomic
def update_workspace(*, workspace: Workspace, name: str, prefix: str) -> Workspace:
    """Rename the workspace; change its prefix only while no record references it."""
    name = name.strip()
    prefix = prefix.strip().upper()
    if not name:
        raise WorkspaceError("Give the workspace a name.")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    old_prefix = workspace.prefix
    if prefix != old_prefix:
        if prefix_is_locked(workspace):
            raise WorkspaceError(
                "The prefix can no longer change: records already carry references with it."
            )
        try:
            prefix_validator(prefix)
        except ValidationError as error:
            raise WorkspaceError(error.messages[0]) from None
        if Workspace.objects.filter(prefix=prefix).exclude(pk=workspace.pk).exists():
            raise WorkspaceError(f"The prefix {prefix} is already used by another workspace.")
    workspace.name = name
    workspace.prefix = prefix
    try:
        with transaction.atomic():
            workspace.save(update_fields=["name", "prefix"])
    except IntegrityError:  # a concurrent rename took the prefix first
        raise WorkspaceError(f"The prefix {prefix} is already used by another workspace.") from None
    if prefix != old_prefix:
        Release = record_model(RecordType.RELEASE)
        for release in Release.objects.filter(workspace=workspace):
            release.reference = f"{prefix}-R-{release.number}"
            release.save(update_fields=["reference"])
    return workspace


def _check_status_fields(*, name: str, category: str, color: str) -> tuple[str, str, str]:
    name = name.strip()
    if not name:
        raise WorkspaceError("Give the status a name.")
    if len(name) > 60:
        raise WorkspaceError("Keep the status name to 60 characters or fewer.")
    if category not in StatusCategory.values:
        raise WorkspaceError("Choose a category: not started, in progress, done or will not do.")
    color_field = WorkflowStatus._meta.get_field("color")
    try:
        color_field.run_validators(color)
    except ValidationError:
        raise WorkspaceError(f"{color!r} is not a colour like #4a90d9.") from None
    return name, category, color.lower()


def _name_taken(*, workspace: Workspace, record_type: str, name: str, exclude=None) -> bool:
    statuses = WorkflowStatus.objects.filter(
        workspace=workspace, record_type=record_type, name__iexact=name
    )
    if exclude is not None:
        statuses = statuses.exclude(pk=exclude.pk)
    return statuses.exists()


@transaction.atomic
def add_status(
    *, workspace: Workspace, record_type: str, name: str, category: str, color: str
) -> WorkflowStatus:
    """Append a status at the end of a workflow."""
    if record_type not in RecordType.values:
        raise WorkspaceError("Unknown record type.")
    name, category, color = _check_status_fields(name=name, category=category, color=color)
    if _name_taken(workspace=workspace, record_type=record_type, name=name):
        raise WorkspaceError(f"This workflow already has a status called {name}.")
    last = WorkflowStatus.objects.filter(workspace=workspace, record_type=record_type).aggregate(
        last=Max("position")
    )["last"]
    return WorkflowStatus.objects.create(
        workspace=workspace,
        record_type=record_type,
        name=name,
        category=category,
        color=color,
        position=0 if last is None else last + 1,
    )


@transaction.atomic
def update_status(
    *, status: WorkflowStatus, name: str, category: str, color: str
) -> WorkflowStatus:
    """Rename, recategorise or recolour a status; records keep pointing at it."""
    name, category, color = _check_status_fields(name=name, category=category, color=color)
    if _name_taken(
        workspace=status.workspace, record_type=status.record_type, name=name, exclude=status
    ):
        raise WorkspaceError(f"This workflow already has a status called {name}.")
    status.name, status.category, status.color = name, category, color
    status.save(update_fields=["name", "category", "color"])
    return status


@transaction.atomic
def move_status(*, status: WorkflowStatus, offset: int) -> None:
    """Move a status up (offset -1) or down (+1) its workflow; positions are renumbered 0..n."""
    statuses = list(
        WorkflowStatus.objects.select_for_update()
        .filter(workspace_id=status.workspace_id, record_type=status.record_type)
        .order_by("position", "id")
    )
    index = next(i for i, s in enumerate(statuses) if s.pk == status.pk)
    target = max(0, min(len(statuses) - 1, index + offset))
    statuses.insert(target, statuses.pop(index))
    for position, item in enumerate(statuses):
        item.position = position
    WorkflowStatus.objects.bulk_update(statuses, ["position"])


def status_usage(status: WorkflowStatus) -> int:
    """How many records are in this status."""
    return record_model(status.record_type).objects.filter(status=status).count()


@transaction.atomic
def delete_status(
    *, status: WorkflowStatus, replacement: WorkflowStatus | None = None, user=None
) -> int:
    """Delete a status, first moving its records to `replacement`; returns how many moved.

    The move is written to each record's history, as an edit would be.
    """
    RecordChange = apps.get_model("records", "RecordChange")  # by label, as record_model()
    siblings = WorkflowStatus.objects.filter(
        workspace_id=status.workspace_id, record_type=status.record_type
    )
    if siblings.count() <= 1:
        raise WorkspaceError("A workflow needs at least one status.")
    Model = record_model(status.record_type)
    records = Model.objects.select_for_update().filter(status=status)
    ids = list(records.values_list("pk", flat=True))
    if ids and replacement is None:
        raise WorkspaceError(
            f"{len(ids)} record(s) are in {status.name}: choose a status to move them to."
        )
    if replacement is not None:
        if replacement.pk == status.pk or not siblings.filter(pk=replacement.pk).exists():
            raise WorkspaceError("Choose another status of the same workflow as the replacement.")
        if ids:
            Model.objects.filter(pk__in=ids).update(status=replacement)
            content_type = ContentType.objects.get_for_model(Model)
            RecordChange.objects.bulk_create(
                RecordChange(
                    workspace_id=status.workspace_id,
                    content_type=content_type,
                    object_id=pk,
                    field="status",
                    old_value=status.name,
                    new_value=replacement.name,
                    changed_by=user,
                )
                for pk in ids
            )
    try:
        with transaction.atomic():
            status.delete()
    except ProtectedError:
        raise WorkspaceError(
            f"{status.name} is still used elsewhere (an integration's status mapping, say)."
        ) from None
    return len(ids)


@transaction.atomic
def set_required_fields(*, workspace: Workspace, record_type: str, field_names) -> list[str]:
    """Make exactly these fields required for the record type (the custom layout)."""
    allowed = {name for name, _ in LAYOUT_FIELDS.get(record_type, [])}
    wanted = set(field_names)
    unknown = wanted - allowed
    if unknown:
        raise WorkspaceError(f"These fields can't be required: {', '.join(sorted(unknown))}.")
    current = RequiredField.objects.filter(workspace=workspace, record_type=record_type)
    current.exclude(field_name__in=wanted).delete()
    existing = set(current.values_list("field_name", flat=True))
    RequiredField.objects.bulk_create(
        RequiredField(workspace=workspace, record_type=record_type, field_name=name)
        for name in sorted(wanted - existing)
    )
    return sorted(wanted)
