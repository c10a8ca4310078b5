"""A record's history, newest first, for the history partial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist

from aharally.records.models import RecordChange


@dataclass(frozen=True)
class HistoryEntry:
    field: str
    label: str
    old_value: str
    new_value: str
    who: str
    source: str
    at: datetime


def _label(model, field: str) -> str:
    try:
        return str(model._meta.get_field(field).verbose_name).capitalize()
    except FieldDoesNotExist:
        return field.replace("_", " ").capitalize()


def _who(change: RecordChange) -> str:
    user = change.changed_by
    if user is not None:
        return user.get_full_name() or user.email or user.get_username()
    return change.source or "someone no longer here"


def record_history(record, *, limit: int | None = None) -> list[HistoryEntry]:
    """Who changed which field of the record, when, from what to what; newest first.

    One query whatever the number of changes (content types are cached by Django).
    """
    content_type = ContentType.objects.get_for_model(record)
    changes = (
        RecordChange.objects.filter(content_type=content_type, object_id=record.pk)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")
    )
    if limit is not None:
        changes = changes[:limit]
    model = type(record)
    return [
        HistoryEntry(
            field=change.field,
            label=_label(model, change.field),
            old_value=change.old_value,
            new_value=change.new_value,
            who=_who(change),
            source=change.source,
            at=change.changed_at,
        )
        for change in changes
    ]
