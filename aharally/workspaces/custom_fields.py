"""Custom fields of a workspace's custom layout: definitions, their order and choices.

Values live in records (`records.CustomValue`), reached here through the app registry as
`configuration.record_model` does: records depends on workspaces, not the reverse.
"""

from __future__ import annotations

import re

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Max

from aharally.workspaces.configuration import record_model
from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.models import (
    CHOICE_KINDS,
    CustomField,
    CustomFieldChoice,
    CustomFieldKind,
    RecordType,
    Workspace,
)

NAME_MAX = 60
HELP_MAX = 200
CHOICE_MAX = 60
# cf_<key> names the field in integrations' field mappings (40 characters there): 3 + 30 + a
# suffix like _12 for a second field of the same name.
KEY_BASE = 30


# Called with the workspace after its custom fields changed, inside the change's transaction:
# integrations keep the copies a template group shares in step (it registers in ready()).
_listeners: list = []


def register_definitions_listener(listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _changed(workspace_id: int) -> None:
    for listener in _listeners:
        listener(workspace_id=workspace_id)


# Called with (field, record_ids, user) after records' values of a field changed outside an
# edit of the record (a deleted choice: they took another, or lost it), inside the change's
# transaction: records tells its record listeners, so a linked record's new value is sent.
_value_listeners: list = []


def register_values_listener(listener) -> None:
    if listener not in _value_listeners:
        _value_listeners.append(listener)


def _check_own(field: CustomField) -> None:
    """A template group's shared field is changed in its template's workspace only."""
    if field.shared_from_id is not None:
        source = field.shared_from.workspace
        raise WorkspaceError(
            f"{field.name} is shared by an integration template from {source.name}: "
            f"change it in {source.name}'s custom layout."
        )


def _values():
    return apps.get_model("records", "CustomValue")


def _history():
    return apps.get_model("records", "RecordChange")


def _clean_name(name: str, *, what: str = "field", limit: int = NAME_MAX) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise WorkspaceError(f"Give the {what} a name.")
    if len(name) > limit:
        raise WorkspaceError(f"Keep the {what} name to {limit} characters or fewer.")
    return name


def make_key(name: str, taken: set[str]) -> str:
    """A stable identifier from the first name: "Target quarter" → target_quarter."""
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:KEY_BASE] or "field"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _name_taken(*, workspace, record_type, name, exclude=None) -> bool:
    fields = CustomField.objects.filter(
        workspace=workspace, record_type=record_type, name__iexact=name
    )
    if exclude is not None:
        fields = fields.exclude(pk=exclude.pk)
    return fields.exists()


def _clean_choice_names(names) -> list[str]:
    cleaned: list[str] = []
    for raw in names:
        if not (raw or "").strip():
            continue
        name = _clean_name(raw, what="choice", limit=CHOICE_MAX)
        if name.lower() in {c.lower() for c in cleaned}:
            raise WorkspaceError(f"{name} is listed twice: each choice needs its own name.")
        cleaned.append(name)
    return cleaned


@transaction.atomic
def add_custom_field(
    *,
    workspace: Workspace,
    record_type: str,
    name: str,
    kind: str,
    help_text: str = "",
    required: bool = False,
    choices=(),
) -> CustomField:
    """Add a custom field at the end of the record type's layout (choices for choice kinds)."""
    if record_type not in RecordType.values:
        raise WorkspaceError("Unknown record type.")
    if kind not in CustomFieldKind.values:
        raise WorkspaceError("Choose what kind of field it is.")
    name = _clean_name(name)
    help_text = (help_text or "").strip()
    if len(help_text) > HELP_MAX:
        raise WorkspaceError(f"Keep the help text to {HELP_MAX} characters or fewer.")
    if _name_taken(workspace=workspace, record_type=record_type, name=name):
        raise WorkspaceError(
            f"{RecordType(record_type).label}s already have a field called {name}."
        )
    choice_names = _clean_choice_names(choices)
    if kind in CHOICE_KINDS and not choice_names:
        raise WorkspaceError("A choice field needs at least one choice.")
    existing = CustomField.objects.filter(workspace=workspace, record_type=record_type)
    last = existing.aggregate(last=Max("position"))["last"]
    field = CustomField.objects.create(
        workspace=workspace,
        record_type=record_type,
        key=make_key(name, set(existing.values_list("key", flat=True))),
        name=name,
        kind=kind,
        help_text=help_text,
        required=required,
        position=0 if last is None else last + 1,
    )
    if kind in CHOICE_KINDS:
        CustomFieldChoice.objects.bulk_create(
            CustomFieldChoice(field=field, name=choice, position=i)
            for i, choice in enumerate(choice_names)
        )
    _changed(workspace.pk)
    return field


@transaction.atomic
def update_custom_field(
    *, field: CustomField, name: str, help_text: str = "", required: bool = False
) -> CustomField:
    """Rename a field, change its help or Required; its key, kind and values stay."""
    _check_own(field)
    name = _clean_name(name)
    help_text = (help_text or "").strip()
    if len(help_text) > HELP_MAX:
        raise WorkspaceError(f"Keep the help text to {HELP_MAX} characters or fewer.")
    if _name_taken(
        workspace=field.workspace_id, record_type=field.record_type, name=name, exclude=field
    ):
        raise WorkspaceError(
            f"{RecordType(field.record_type).label}s already have a field called {name}."
        )
    field.name, field.help_text, field.required = name, help_text, required
    field.save(update_fields=["name", "help_text", "required"])
    _changed(field.workspace_id)
    return field


def _reorder(items: list, moving, offset: int) -> list:
    index = next(i for i, item in enumerate(items) if item.pk == moving.pk)
    target = max(0, min(len(items) - 1, index + offset))
    items.insert(target, items.pop(index))
    for position, item in enumerate(items):
        item.position = position
    return items


@transaction.atomic
def move_custom_field(*, field: CustomField, offset: int) -> None:
    """Move a field up (-1) or down (+1) the layout."""
    _check_own(field)
    fields = list(
        CustomField.objects.select_for_update()
        .filter(workspace_id=field.workspace_id, record_type=field.record_type)
        .order_by("position", "id")
    )
    CustomField.objects.bulk_update(_reorder(fields, field, offset), ["position"])
    _changed(field.workspace_id)


def field_usage(field: CustomField) -> int:
    """How many records have a value in the field."""
    return _values().objects.filter(field=field).values("record_id").distinct().count()


@transaction.atomic
def delete_custom_field(*, field: CustomField) -> int:
    """Delete a field and its values (the history keeps what they were); returns how many
    records had one. Its copies in a template group become their workspaces' own fields."""
    _check_own(field)
    used = field_usage(field)
    _values().objects.filter(field=field).delete()
    field.delete()
    return used


def _check_choice_field(field: CustomField) -> None:
    _check_own(field)
    if field.kind not in CHOICE_KINDS:
        raise WorkspaceError(f"{field.name} is not a choice field.")


def _choice_taken(field: CustomField, name: str, exclude=None) -> bool:
    choices = CustomFieldChoice.objects.filter(field=field, name__iexact=name)
    if exclude is not None:
        choices = choices.exclude(pk=exclude.pk)
    return choices.exists()


@transaction.atomic
def add_choice(*, field: CustomField, name: str) -> CustomFieldChoice:
    _check_choice_field(field)
    name = _clean_name(name, what="choice", limit=CHOICE_MAX)
    if _choice_taken(field, name):
        raise WorkspaceError(f"{field.name} already has a choice called {name}.")
    last = CustomFieldChoice.objects.filter(field=field).aggregate(last=Max("position"))["last"]
    choice = CustomFieldChoice.objects.create(
        field=field, name=name, position=0 if last is None else last + 1
    )
    _changed(field.workspace_id)
    return choice


@transaction.atomic
def rename_choice(*, choice: CustomFieldChoice, name: str) -> CustomFieldChoice:
    """Rename a choice; records that have it keep it (they point at the choice, not its name)."""
    _check_own(choice.field)
    name = _clean_name(name, what="choice", limit=CHOICE_MAX)
    if _choice_taken(choice.field, name, exclude=choice):
        raise WorkspaceError(f"{choice.field.name} already has a choice called {name}.")
    choice.name = name
    choice.save(update_fields=["name"])
    _changed(choice.field.workspace_id)
    return choice


@transaction.atomic
def move_choice(*, choice: CustomFieldChoice, offset: int) -> None:
    _check_own(choice.field)
    choices = list(
        CustomFieldChoice.objects.select_for_update()
        .filter(field_id=choice.field_id)
        .order_by("position", "id")
    )
    CustomFieldChoice.objects.bulk_update(_reorder(choices, choice, offset), ["position"])
    _changed(choice.field.workspace_id)


def choice_usage(choice: CustomFieldChoice) -> int:
    """How many records have this choice."""
    return _values().objects.filter(choice=choice).count()


@transaction.atomic
def delete_choice(
    *,
    choice: CustomFieldChoice,
    replacement: CustomFieldChoice | None = None,
    clear: bool = False,
    user=None,
) -> int:
    """Delete a choice: its records take `replacement`, or lose the value when `clear`.

    A choice in use is never deleted without one of the two; each record's change is
    written to its history, as an edit would be. The copies a template group shares go the
    same way in every workspace. Returns how many records changed.
    """
    _check_own(choice.field)
    return _delete_choice(choice=choice, replacement=replacement, clear=clear, user=user)


def _delete_choice(*, choice, replacement, clear, user) -> int:
    field = choice.field
    CustomValue = _values()
    rows = list(CustomValue.objects.select_for_update().filter(choice=choice))
    if rows and replacement is None and not clear:
        raise WorkspaceError(
            f"{len(rows)} record(s) have {choice.name}: choose another choice for them, "
            "or clear it from them."
        )
    if replacement is not None and (
        replacement.pk == choice.pk or replacement.field_id != choice.field_id
    ):
        raise WorkspaceError("Choose another choice of the same field as the replacement.")
    record_ids = [row.record_id for row in rows]
    if rows:
        # What each record showed before, for its history (a multiple choice shows them all).
        before = _choice_names(field, record_ids)
        if replacement is None:
            CustomValue.objects.filter(pk__in=[r.pk for r in rows]).delete()
        else:
            having = set(
                CustomValue.objects.filter(
                    choice=replacement, record_id__in=record_ids
                ).values_list("record_id", flat=True)
            )
            # A multiple choice that already has the replacement keeps it once.
            CustomValue.objects.filter(
                pk__in=[r.pk for r in rows if r.record_id in having]
            ).delete()
            CustomValue.objects.filter(
                pk__in=[r.pk for r in rows if r.record_id not in having]
            ).update(choice=replacement)
        after = _choice_names(field, record_ids)
        content_type = ContentType.objects.get_for_model(record_model(field.record_type))
        RecordChange = _history()
        RecordChange.objects.bulk_create(
            RecordChange(
                workspace_id=field.workspace_id,
                content_type=content_type,
                object_id=pk,
                field=field.form_name,
                old_value=before.get(pk, ""),
                new_value=after.get(pk, ""),
                changed_by=user,
            )
            for pk in sorted(set(record_ids))
        )
        for listener in _value_listeners:
            listener(field=field, record_ids=sorted(set(record_ids)), user=user)
    changed = len(set(record_ids))
    for copy in CustomFieldChoice.objects.filter(shared_from=choice).select_related("field"):
        copy_replacement = (
            CustomFieldChoice.objects.filter(field=copy.field, shared_from=replacement).first()
            if replacement is not None
            else None
        )
        changed += _delete_choice(
            choice=copy,
            replacement=copy_replacement,
            # A copy whose field lacks the replacement's copy loses the value rather than block.
            clear=clear or copy_replacement is None,
            user=user,
        )
    choice.delete()
    return changed


def _choice_names(field: CustomField, record_ids) -> dict[int, str]:
    """Each record's choices of the field as its history shows them: "High" or "A, B"."""
    names: dict[int, list[str]] = {}
    rows = (
        _values()
        .objects.filter(field=field, record_id__in=record_ids)
        .select_related("choice")
        .order_by("choice__position", "choice__id")
    )
    for row in rows:
        if row.choice is not None:
            names.setdefault(row.record_id, []).append(row.choice.name)
    return {pk: ", ".join(values) for pk, values in names.items()}
