"""Creating and changing records: reference numbers, sanitising, history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from aharally.records import custom
from aharally.records.hooks import record_saved, records_saved
from aharally.records.models import (
    Epic,
    Feature,
    Initiative,
    RecordChange,
    Release,
    Requirement,
)
from aharally.records.references import take_number, take_requirement_number
from aharally.records.richtext import sanitize_html
from aharally.records.rows import insert_each, update_each
from aharally.workspaces.models import RecordType, Workspace
from aharally.workspaces.services import first_status, start_workspace


def _prepare(record, *, user) -> None:
    record.description = sanitize_html(record.description)
    if record.status_id is None:
        record.status = first_status(workspace=record.workspace, record_type=record.record_type)
    if user is not None and record.created_by_id is None:
        record.created_by = user


@transaction.atomic
def create_workspace(*, name: str, prefix: str, owner=None) -> Workspace:
    """Create a workspace with default workflows, a parking lot and its owner."""
    workspace = start_workspace(name=name, prefix=prefix, owner=owner)
    create_release(workspace=workspace, name="Parking lot", is_parking_lot=True, user=owner)
    return workspace


@transaction.atomic
def create_release(*, workspace: Workspace, name: str, user=None, **fields) -> Release:
    values = custom.split_custom(fields)
    number, reference = take_number(workspace=workspace, record_type=RecordType.RELEASE)
    release = Release(workspace=workspace, name=name, number=number, reference=reference, **fields)
    _prepare(release, user=user)
    release.save()
    custom.write_values(release, values)
    return release


@transaction.atomic
def create_initiative(*, workspace: Workspace, name: str, user=None, **fields) -> Initiative:
    values = custom.split_custom(fields)
    number, reference = take_number(workspace=workspace, record_type=RecordType.INITIATIVE)
    initiative = Initiative(
        workspace=workspace, name=name, number=number, reference=reference, **fields
    )
    _prepare(initiative, user=user)
    initiative.save()
    custom.write_values(initiative, values)
    return initiative


@transaction.atomic
def create_epic(*, workspace: Workspace, name: str, user=None, **fields) -> Epic:
    values = custom.split_custom(fields)
    number, reference = take_number(workspace=workspace, record_type=RecordType.EPIC)
    epic = Epic(workspace=workspace, name=name, number=number, reference=reference, **fields)
    _prepare(epic, user=user)
    epic.save()
    custom.write_values(epic, values)
    return epic


@transaction.atomic
def create_feature(
    *,
    workspace: Workspace,
    name: str,
    release: Release,
    user=None,
    tags=(),
    source: str = "",
    **fields,
) -> Feature:
    values = custom.split_custom(fields)
    number, reference = take_number(workspace=workspace, record_type=RecordType.FEATURE)
    if "rank" not in fields:
        last = Feature.objects.filter(release=release).order_by("-rank").first()
        fields["rank"] = (last.rank + 1) if last else 1.0
    feature = Feature(
        workspace=workspace,
        name=name,
        release=release,
        number=number,
        reference=reference,
        **fields,
    )
    _prepare(feature, user=user)
    feature.save()
    if tags:
        feature.tags.set(tags)
    custom.write_values(feature, values)
    record_saved(feature, changed=[], user=user, source=source, created=True)
    return feature


@transaction.atomic
def create_requirement(
    *, feature: Feature, name: str, user=None, tags=(), source: str = "", **fields
) -> Requirement:
    """A new requirement; `source` names where it came from when not a person ("Rally")."""
    values = custom.split_custom(fields)
    number, reference = take_requirement_number(feature=feature)
    if "rank" not in fields:
        fields["rank"] = float(number)
    requirement = Requirement(
        workspace=feature.workspace,
        feature=feature,
        name=name,
        number=number,
        reference=reference,
        **fields,
    )
    _prepare(requirement, user=user)
    requirement.save()
    if tags:
        requirement.tags.set(tags)
    custom.write_values(requirement, values)
    record_saved(requirement, changed=[], user=user, source=source, created=True)
    return requirement


def _display(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "all"):  # a related manager: tags
        return ", ".join(sorted(str(v) for v in value.all()))
    return str(value)


@transaction.atomic
def update_record(record, *, changes: dict[str, Any], user=None, source: str = "") -> list[str]:
    """Apply field changes, keep one history row per changed field; returns the changed names.

    Many-to-many fields (tags) take an iterable of objects.
    """
    changed, history = _stage(record, changes, user=user, source=source)
    simple = [name for name in changed if _is_column(record, name)]
    if simple:
        record.save(update_fields=[*simple, "updated_at"])
    insert_each(RecordChange, history)
    record_saved(record, changed=changed, user=user, source=source)
    return changed


@transaction.atomic
def update_records(
    changes: Iterable[tuple[Any, dict[str, Any]]], *, user=None, source: str = ""
) -> dict[int, list[str]]:
    """`update_record` for many records of one model at once: {record id: changed names}.

    The same history rows and listener calls, in a few statements whatever their number: one
    UPDATE per set of changed fields (only those fields written, as `update_record` does, so a
    field edited meanwhile is not put back) and one INSERT of history rows.
    """
    history: list[dict] = []
    by_fields: dict[tuple[type, tuple[str, ...]], list] = {}
    staged = []
    now = timezone.now()
    changes = [(record, dict(wanted)) for record, wanted in changes]
    # Custom values of all the records at once (a catch-up's chunk: a few statements).
    written = custom.write_many(
        [(record, custom.split_custom(wanted)) for record, wanted in changes]
    )
    for record, wanted in changes:
        changed, rows = _stage(
            record, wanted, user=user, source=source, custom_written=written.get(record.pk, [])
        )
        history += rows
        staged.append((record, changed))
        simple = tuple(sorted(n for n in changed if _is_column(record, n)))
        if simple:
            record.updated_at = now  # what auto_now does on save(); bulk_update skips it
            by_fields.setdefault((type(record), simple), []).append(record)
    for (_model, fields), records in by_fields.items():
        update_each(records, [*fields, "updated_at"])
    insert_each(RecordChange, history)
    records_saved(staged, user=user, source=source)
    return {record.pk: changed for record, changed in staged}


def _m2m_names(record) -> set[str]:
    return {f.name for f in record._meta.many_to_many}


def _is_column(record, name: str) -> bool:
    """Whether a changed field is saved with the record's row (not tags, not custom values)."""
    return not custom.is_custom(name) and name not in _m2m_names(record)


def _stage(record, changes: dict[str, Any], *, user, source: str, custom_written=None):
    """Set the changed fields on `record` (many-to-many ones saved at once); returns the
    changed names and their unsaved history rows. `custom_written`: the custom values
    `update_records` wrote already for all its records (else they are written here)."""
    changed: list[str] = []
    history: list[dict] = []
    content_type = ContentType.objects.get_for_model(record)
    m2m_names = _m2m_names(record)
    changes = dict(changes)
    # Custom values are rows of their own: written now, like the many-to-many fields.
    wanted_custom = custom.split_custom(changes)
    if custom_written is None:
        custom_written = custom.write_values(record, wanted_custom)
    for field, old_display, new_display in custom_written:
        changed.append(field.form_name)
        history.append(
            _history_row(
                record, content_type, field.form_name, old_display, new_display, user, source
            )
        )
    for name, new in changes.items():
        if name == "description":
            new = sanitize_html(new or "")
        if name in m2m_names:
            manager = getattr(record, name)
            old_set = set(manager.all())
            if old_set == set(new):
                continue
            old_display = _display(manager)
            manager.set(new)
            new_display = _display(manager)
        else:
            old = getattr(record, name)
            if old == new:
                continue
            old_display = _display(old)
            setattr(record, name, new)
            new_display = _display(new)
        changed.append(name)
        history.append(
            _history_row(record, content_type, name, old_display, new_display, user, source)
        )
    return changed, history


def _history_row(record, content_type, field, old_display, new_display, user, source) -> dict:
    """A RecordChange as `insert_each` writes it (no model instance: thousands a catch-up)."""
    return {
        "workspace_id": record.workspace_id,
        "content_type_id": content_type.pk,
        "object_id": record.pk,
        "field": field,
        "old_value": old_display,
        "new_value": new_display,
        "changed_by_id": user.pk if user is not None else None,
        "source": source,
    }
