"""A record's history, newest first, for the history partial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.timesince import timesince

from aharally.records import custom
from aharally.records.models import RecordChange
from aharally.records.richtext import html_to_text


@dataclass(frozen=True)
class HistoryEntry:
    field: str
    label: str
    old_value: str
    new_value: str
    who: str
    source: str
    at: datetime

    @property
    def ago(self) -> str:
        return ago(self.at)

    @property
    def verb(self) -> str:
        """ "changed", or for a comment or a file what was done to it."""
        if self.field not in _ITEMS:
            return "changed"
        if not self.old_value:
            return "commented" if self.field == "comments" else "attached"
        return "edited" if self.new_value else "deleted"

    @property
    def subject(self) -> str:
        """What the verb was done to: the field's label, or "a comment" / a file's name."""
        if self.field not in _ITEMS:
            return self.label
        if self.verb == "commented":
            return ""
        if self.field == "attachments":
            return self.new_value or self.old_value
        return _ITEMS[self.field]

    @property
    def values_shown(self) -> str:
        """ "both" (old → new), "new" or "old" alone (a comment added or deleted), or "" (a
        file: its name is the subject)."""
        if self.field == "attachments":
            return ""
        if self.field == "comments" and not (self.old_value and self.new_value):
            return "new" if self.new_value else "old"
        return "both"


# The discussion app's history fields (discussion.services), told as what was done to the
# item rather than "changed Comments: empty → …".
_ITEMS = {"comments": "a comment", "attachments": "a file"}


def ago(at: datetime) -> str:
    """ "just now", or "5 minutes ago" (timesince alone says "0 minutes")."""
    if timezone.now() - at < timedelta(minutes=1):
        return "just now"
    return f"{timesince(at)} ago"


def _label(model, field: str) -> str:
    if custom.is_custom(field):  # a custom field deleted since: its key is all that is left
        return field.removeprefix(custom.PREFIX).replace("_", " ").capitalize()
    try:
        return str(model._meta.get_field(field).verbose_name).capitalize()
    except FieldDoesNotExist:
        return field.replace("_", " ").capitalize()


def _readable(model, field: str, value: str) -> str:
    """A stored value as a person reads it: rich text as its words, numbers as entered (8, 13.5)."""
    if not value:
        return value
    try:
        kind = model._meta.get_field(field)
    except FieldDoesNotExist:
        return value
    if field == "description" or isinstance(kind, models.TextField):
        return html_to_text(value)
    if isinstance(kind, models.DecimalField):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        # normalize() turns 13.00 into 13 and 2.50 into 2.5; format "f" keeps 10 from 1E+1.
        return format(number.normalize(), "f")
    return value


def _who(change: RecordChange) -> str:
    user = change.changed_by
    if user is not None:
        return user.get_full_name() or user.email or user.get_username()
    return change.source or "someone no longer here"


HIDDEN_INITIATIVE = "an initiative in a workspace you don't belong to"


def _masker(viewer):
    """Hides initiatives (recorded as "CO-I-1 Name") of workspaces the viewer is not in."""
    if viewer is None:
        return lambda field, value: value
    from aharally.workspaces.access import visible_workspaces

    prefixes = set(visible_workspaces(viewer).values_list("prefix", flat=True))

    def mask(field: str, value: str) -> str:
        if field != "initiative" or not value:
            return value
        prefix = value.split("-I-", 1)[0]
        return value if prefix in prefixes else HIDDEN_INITIATIVE

    return mask


def record_history(record, *, limit: int | None = None, viewer=None) -> list[HistoryEntry]:
    """Who changed which field of the record, when, from what to what; newest first.

    One query whatever the number of changes (content types are cached by Django), plus
    one for the viewer's workspaces when `viewer` is given: initiatives of workspaces the
    viewer does not belong to are not named.
    """
    mask = _masker(viewer)
    content_type = ContentType.objects.get_for_model(record)
    changes = (
        RecordChange.objects.filter(content_type=content_type, object_id=record.pk)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")
    )
    if limit is not None:
        changes = changes[:limit]
    changes = list(changes)
    model = type(record)
    custom_labels = custom.labels(
        record.workspace_id, record.record_type, {change.field for change in changes}
    )
    return [
        HistoryEntry(
            field=change.field,
            label=custom_labels.get(change.field) or _label(model, change.field),
            old_value=_readable(model, change.field, mask(change.field, change.old_value)),
            new_value=_readable(model, change.field, mask(change.field, change.new_value)),
            who=_who(change),
            source=change.source,
            at=change.changed_at,
        )
        for change in changes
    ]
