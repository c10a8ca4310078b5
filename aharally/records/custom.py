"""Custom field values of records: their form fields, reading, writing and display.

A record's custom values are named `cf_<key>` wherever record fields are named: in forms
(`form.changes()`), in `update_record`'s changes, in history rows and in the names the
record listeners hear. Python values: text kinds a str ("" when empty), a number a
Decimal, a date a date, a single choice or a member an object, a multiple choice a list
of choices (None or [] when empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.db.models import Q

from aharally.records.hooks import record_saved
from aharally.records.models import CustomValue
from aharally.records.richtext import html_to_text, sanitize_html
from aharally.workspaces.configuration import record_model
from aharally.workspaces.models import CustomField, CustomFieldKind

PREFIX = "cf_"
K = CustomFieldKind
TEXT_MAX = 1000
URL_MAX = 2000
NUMBER_DIGITS = 14  # in all, 4 of them after the point: what CustomValue.number holds
NUMBER_PLACES = 4
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def is_custom(name: str) -> bool:
    return name.startswith(PREFIX)


def definitions(workspace_id: int, record_type: str) -> list[CustomField]:
    """The record type's custom fields in layout order, choices prefetched (one or two queries)."""
    return list(
        CustomField.objects.filter(workspace_id=workspace_id, record_type=record_type)
        .order_by("position", "id")
        .prefetch_related("choices")
    )


def empty(field: CustomField) -> Any:
    if field.kind == K.CHOICES:
        return []
    if field.kind in (K.TEXT, K.RICH_TEXT, K.URL):
        return ""
    return None


def read_values(record_id: int | None, fields: list[CustomField]) -> dict[str, Any]:
    """{form name: value} of one record, every field present; one query (none when new)."""
    if not fields or record_id is None:
        return {field.form_name: empty(field) for field in fields}
    return read_many([record_id], fields)[record_id]


def read_many(record_ids: Iterable[int], fields: list[CustomField]) -> dict[int, dict[str, Any]]:
    """{record id: {form name: value}} of many records of one type, every field present;
    one query whatever their number (the catch-up reads a chunk's values at once)."""
    record_ids = list(record_ids)
    result = {rid: {field.form_name: empty(field) for field in fields} for rid in record_ids}
    if not fields or not record_ids:
        return result
    by_id = {field.pk: field for field in fields}
    choices = {c.pk: c for field in fields for c in field.choices.all()}
    rows = CustomValue.objects.filter(field__in=fields, record_id__in=record_ids)
    if any(field.kind == K.MEMBER for field in fields):
        rows = rows.select_related("user")
    for row in rows.order_by("id"):
        field = by_id[row.field_id]
        values = result[row.record_id]
        name = field.form_name
        if field.kind == K.CHOICES:
            values[name].append(choices[row.choice_id])
        elif field.kind == K.CHOICE:
            values[name] = choices.get(row.choice_id)
        elif field.kind == K.MEMBER:
            values[name] = row.user
        elif field.kind == K.NUMBER:
            values[name] = row.number
        elif field.kind == K.DATE:
            values[name] = row.date
        else:
            values[name] = row.text
    for field in fields:
        if field.kind == K.CHOICES:
            for values in result.values():
                values[field.form_name].sort(key=lambda c: (c.position, c.pk))
    return result


def _person(user) -> str:
    return user.get_full_name() or user.email or user.get_username()


def display(field: CustomField, value: Any) -> str:
    """A value as a person reads it (and as the record's history keeps it)."""
    if value is None or value == "" or value == []:
        return ""
    if field.kind == K.CHOICES:
        return ", ".join(choice.name for choice in value)
    if field.kind == K.CHOICE:
        return value.name
    if field.kind == K.MEMBER:
        return _person(value)
    if field.kind == K.NUMBER:
        return format(Decimal(value).normalize(), "f")
    if field.kind == K.DATE:
        return value.isoformat()
    if field.kind == K.RICH_TEXT:
        return html_to_text(value)
    return str(value)


def _same(field: CustomField, old: Any, new: Any) -> bool:
    if field.kind == K.CHOICES:
        return {c.pk for c in old or []} == {c.pk for c in new or []}
    if field.kind in (K.CHOICE, K.MEMBER):
        return getattr(old, "pk", None) == getattr(new, "pk", None)
    return (old or empty(field)) == (new or empty(field))


def _rows(field: CustomField, record_id: int, value: Any) -> list[CustomValue]:
    if value is None or value == "" or value == []:
        return []
    row = {"field": field, "record_id": record_id}
    if field.kind == K.CHOICES:
        return [CustomValue(**row, choice=choice) for choice in value]
    if field.kind == K.CHOICE:
        return [CustomValue(**row, choice=value)]
    if field.kind == K.MEMBER:
        return [CustomValue(**row, user=value)]
    if field.kind == K.NUMBER:
        return [CustomValue(**row, number=value)]
    if field.kind == K.DATE:
        return [CustomValue(**row, date=value)]
    if field.kind == K.RICH_TEXT:
        value = sanitize_html(value)
    return [CustomValue(**row, text=value)]


def write_values(record, values: dict[str, Any]) -> list[tuple[CustomField, str, str]]:
    """Set custom values of a saved record; returns (field, old, new display) of each that
    changed. Unknown names are refused: a caller that names a field that is not there has
    a bug, and silently dropping the value would lose it."""
    if not values:
        return []
    fields = {f.form_name: f for f in definitions(record.workspace_id, record.record_type)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"No such custom field on {record.record_type}: {sorted(unknown)}")
    wanted = [fields[name] for name in values]
    old = read_values(record.pk, wanted)
    changed = []
    new_rows: list[CustomValue] = []
    for field in wanted:
        new = values[field.form_name]
        if field.kind == K.RICH_TEXT and new:
            new = sanitize_html(new)
        if _same(field, old[field.form_name], new):
            continue
        changed.append((field, display(field, old[field.form_name]), display(field, new)))
        new_rows += _rows(field, record.pk, new)
    if changed:
        CustomValue.objects.filter(
            field__in=[field for field, _, _ in changed], record_id=record.pk
        ).delete()
        CustomValue.objects.bulk_create(new_rows)
    return changed


def write_many(items: list[tuple[Any, dict[str, Any]]]) -> dict[int, list]:
    """`write_values` for many saved records of one workspace and type at once ((record,
    values) pairs): {record id: changed (field, old, new display)}, in four statements
    whatever their number (definitions and their choices, the old values, one DELETE, one
    INSERT) — the catch-up applies a chunk of Rally's changes this way."""
    groups: dict[tuple[int, str], list] = {}
    for record, values in items:
        if values:
            groups.setdefault((record.workspace_id, record.record_type), []).append(
                (record, values)
            )
    result: dict[int, list] = {}
    for group in groups.values():
        result.update(_write_group(group))
    return result


def _write_group(items: list[tuple[Any, dict[str, Any]]]) -> dict[int, list]:
    first = items[0][0]
    fields = {f.form_name: f for f in definitions(first.workspace_id, first.record_type)}
    names = {name for _, values in items for name in values}
    unknown = names - set(fields)
    if unknown:
        raise ValueError(f"No such custom field on {first.record_type}: {sorted(unknown)}")
    old = read_many([record.pk for record, _ in items], [fields[name] for name in names])
    result: dict[int, list] = {}
    gone = Q(pk__in=[])
    new_rows: list[CustomValue] = []
    for record, values in items:
        changed = []
        for name, new in values.items():
            field = fields[name]
            if field.kind == K.RICH_TEXT and new:
                new = sanitize_html(new)
            before = old[record.pk][name]
            if _same(field, before, new):
                continue
            changed.append((field, display(field, before), display(field, new)))
            new_rows += _rows(field, record.pk, new)
        if changed:
            gone |= Q(record_id=record.pk, field__in=[field for field, _, _ in changed])
            result[record.pk] = changed
    if result:
        CustomValue.objects.filter(gone).delete()
        CustomValue.objects.bulk_create(new_rows)
    return result


def on_values_changed(*, field: CustomField, record_ids: list[int], user=None) -> None:
    """Values of `field` changed outside an edit (a deleted choice's records took another or
    lost it; their history is written already): the record listeners hear of it as of an
    edit, so a linked record's new value goes to Rally. One query, plus what they do."""
    for record in record_model(field.record_type).objects.filter(pk__in=record_ids):
        record_saved(record, changed=[field.form_name], user=user)


def split_custom(fields: dict[str, Any]) -> dict[str, Any]:
    """Take the custom values out of a create service's keyword arguments."""
    return {name: fields.pop(name) for name in [n for n in fields if is_custom(n)]}


def labels(workspace_id: int, record_type: str, names: Iterable[str]) -> dict[str, str]:
    """{form name: field name} for history rows of custom fields (one query, none if none)."""
    keys = {name[len(PREFIX) :] for name in names if is_custom(name)}
    if not keys:
        return {}
    return {
        PREFIX + key: name
        for key, name in CustomField.objects.filter(
            workspace_id=workspace_id, record_type=record_type, key__in=keys
        ).values_list("key", "name")
    }


# Form fields ---------------------------------------------------------------------------


class _ChoiceField(forms.TypedChoiceField):
    """A choice of the field's prefetched choices, cleaned to the choice object."""

    def __init__(self, *, field: CustomField, **kwargs):
        by_id = {str(c.pk): c for c in field.choices.all()}
        super().__init__(
            choices=[("", "—")] + [(pk, c.name) for pk, c in by_id.items()],
            coerce=lambda v: by_id.get(str(v), v),
            empty_value=None,
            **kwargs,
        )


class _ChoicesField(forms.TypedMultipleChoiceField):
    def __init__(self, *, field: CustomField, **kwargs):
        by_id = {str(c.pk): c for c in field.choices.all()}
        super().__init__(
            choices=[(pk, c.name) for pk, c in by_id.items()],
            coerce=lambda v: by_id.get(str(v), v),
            widget=forms.CheckboxSelectMultiple,
            **kwargs,
        )


class _MemberField(forms.TypedChoiceField):
    """A member of the workspace, from a list read once for all member fields of a form."""

    def __init__(self, *, members, **kwargs):
        by_id = {str(user.pk): user for user in members}
        super().__init__(
            choices=[("", "—")] + [(pk, _person(user)) for pk, user in by_id.items()],
            coerce=lambda v: by_id.get(str(v), v),
            empty_value=None,
            **kwargs,
        )


def workspace_members(workspace_id: int) -> list:
    return list(
        get_user_model().objects.filter(memberships__workspace_id=workspace_id).order_by("email")
    )


def form_field(field: CustomField, *, workspace_id: int, members=None) -> forms.Field:
    """The Django form field of a custom field, with its own messages for bad input."""
    common = {"label": field.name, "help_text": field.help_text, "required": False}
    kind = field.kind
    if kind == K.NUMBER:
        return forms.DecimalField(
            max_digits=NUMBER_DIGITS,
            decimal_places=NUMBER_PLACES,
            error_messages={
                "invalid": "Enter a number, like 12 or 3.5.",
                "max_digits": f"Out of range: a number here has at most {NUMBER_DIGITS} digits.",
                "max_whole_digits": (
                    f"Out of range: at most {NUMBER_DIGITS - NUMBER_PLACES} digits "
                    "before the point."
                ),
                "max_decimal_places": f"Use at most {NUMBER_PLACES} digits after the point.",
            },
            **common,
        )
    if kind == K.DATE:
        return forms.DateField(
            widget=DATE_WIDGET,
            error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
            **common,
        )
    if kind == K.URL:
        return forms.URLField(max_length=URL_MAX, assume_scheme="https", **common)
    if kind == K.CHOICE:
        return _ChoiceField(
            field=field,
            error_messages={"invalid_choice": f"Choose one of the choices of {field.name}."},
            **common,
        )
    if kind == K.CHOICES:
        return _ChoicesField(
            field=field,
            error_messages={"invalid_choice": f"Choose among the choices of {field.name}."},
            **common,
        )
    if kind == K.MEMBER:
        return _MemberField(
            members=workspace_members(workspace_id) if members is None else members,
            error_messages={"invalid_choice": "Choose a member of this workspace."},
            **common,
        )
    if kind == K.RICH_TEXT:
        widget = forms.Textarea(attrs={"rows": 4, "data-rich-text": ""})
        rich = forms.CharField(widget=widget, **common)
        rich.validators.append(MaxLengthValidator(settings.RICH_TEXT_MAX_LENGTH))
        return rich
    return forms.CharField(max_length=TEXT_MAX, **common)


def initial(field: CustomField, value: Any) -> Any:
    """A value as its form field's initial data."""
    if field.kind == K.CHOICES:
        return [str(c.pk) for c in value]
    if field.kind == K.CHOICE:
        return str(value.pk) if value is not None else None
    if field.kind == K.MEMBER:
        return str(value.pk) if value is not None else None
    if field.kind == K.NUMBER and value is not None:
        return format(value.normalize(), "f")
    return value


def clean_value(field: CustomField, value: Any) -> Any:
    """After the form field's own cleaning: rich text sanitised, empties made uniform."""
    if field.kind == K.RICH_TEXT:
        return sanitize_html(value or "")
    if value in (None, "") and field.kind in (K.TEXT, K.URL):
        return ""
    return value
