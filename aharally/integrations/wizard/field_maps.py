"""Field mappings the owner adds in the mapping step: any aharally field, built-in or custom,
to a compatible Rally field (standard or `c_`), and a choice field's value map.

A custom field is named by its form name, `cf_<key>` (its key never changes, and a template
group's copies share it). Compatibility goes by kind (`custom_matching.COMPATIBLE`); the
built-in fields have the kind of the custom field they resemble.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction
from django.db.models import Max

from aharally.integrations.custom_matching import auto_value_map, incompatibility
from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.models import Direction, FieldMapping, RecordMapping
from aharally.integrations.value_map_news import KNOWN_VALUES
from aharally.integrations.wizard.services import WizardError
from aharally.rally.metadata import AttributeDefinition
from aharally.workspaces.models import CHOICE_KINDS, CustomField, CustomFieldKind

K = CustomFieldKind
PREFIX = "cf_"
# Built-in fields that can be mapped to another Rally field, by the kind they behave as.
# Status (its status map), tags (Rally's Tags) and rank (a move, not a value) keep theirs.
BUILTIN_KINDS = {
    "name": K.TEXT,
    "description": K.RICH_TEXT,
    "start_date": K.DATE,
    "due_date": K.DATE,
    "release_date": K.DATE,
    "estimate": K.NUMBER,
    "assignee": K.MEMBER,
}


def custom_fields(record_mapping: RecordMapping) -> list[CustomField]:
    """The custom fields of the mapping's record type in the integration's workspace."""
    return list(
        CustomField.objects.filter(
            workspace_id=record_mapping.integration.workspace_id,
            record_type=record_mapping.record_type,
        )
        .order_by("position", "id")
        .prefetch_related("choices")
    )


def field_choices(record_mapping: RecordMapping, fields: Sequence[CustomField]) -> list:
    """(value, label) of the aharally fields not mapped yet, built-in first."""
    mapped = {m.field for m in record_mapping.field_mappings.all()}
    builtin = [(name, FIELD_LABELS.get(name, name)) for name in BUILTIN_KINDS if name not in mapped]
    custom = [
        (f.form_name, f"{f.name} ({f.get_kind_display().lower()})")
        for f in fields
        if f.form_name not in mapped
    ]
    return builtin + custom


@transaction.atomic
def add_field_mapping(
    *,
    record_mapping: RecordMapping,
    field: str,
    rally_field: str,
    direction: str,
    attributes: Sequence[AttributeDefinition],
) -> FieldMapping:
    """Map an aharally field to a Rally attribute of the mapping's type; a choice field gets
    its value map by name. Raises WizardError, nothing saved, when they don't fit."""
    if direction not in Direction.values:
        raise WizardError("Choose a direction from the list.")
    attribute = next((a for a in attributes if a.element_name == rally_field), None)
    if attribute is None:
        raise WizardError(
            f"Rally's {record_mapping.rally_type_name or record_mapping.rally_type} has no "
            f"field {rally_field or '(none chosen)'}: choose one from the list."
        )
    custom = None
    if field.startswith(PREFIX):
        custom = next((f for f in custom_fields(record_mapping) if f.form_name == field), None)
        if custom is None:
            raise WizardError("That custom field is gone: reload the page.")
        kind, label = custom.kind, custom.name
    elif field in BUILTIN_KINDS:
        kind, label = BUILTIN_KINDS[field], FIELD_LABELS.get(field, field)
    else:
        raise WizardError("Choose an aharally field from the list.")
    problem = incompatibility(kind, attribute, field_name=label)
    if problem:
        raise WizardError(problem)
    taken = {m.field: m for m in record_mapping.field_mappings.all()}
    if field in taken:
        raise WizardError(f"{label} is mapped already (to {taken[field].rally_field}).")
    by_rally = {m.rally_field: m for m in taken.values()}
    if rally_field in by_rally:
        other = by_rally[rally_field].field
        raise WizardError(
            f"Rally's {attribute.name} is mapped already (from {_label(other)}): one aharally "
            "field a Rally field."
        )
    value_map = {}
    if custom is not None and kind in CHOICE_KINDS:
        names = {c.name: c.pk for c in custom.choices.all()}
        matched = auto_value_map(list(names), attribute.allowed_values or ())
        # "" is a choice the map leaves out knowingly; the values Rally had are remembered,
        # so what either side adds later shows as new (`value_map_news`).
        value_map = {str(names[name]): value or "" for name, value in matched.items()}
        value_map[KNOWN_VALUES] = list(attribute.allowed_values or ())
    last = record_mapping.field_mappings.aggregate(last=Max("position"))["last"]
    return FieldMapping.objects.create(
        record_mapping=record_mapping,
        field=field,
        rally_field=rally_field,
        direction=direction,
        position=0 if last is None else last + 1,
        value_map=value_map,
    )


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


@transaction.atomic
def set_value(
    *, field_mapping: FieldMapping, choice_id: str, value: str, allowed: Sequence[str]
) -> None:
    """Map one choice to one of Rally's allowed values ("" leaves it unmapped: its records'
    value is then neither sent nor applied). Several choices may share a value."""
    field = custom_field_of(field_mapping)
    if field is None or field.kind not in CHOICE_KINDS:
        raise WizardError("Only a choice field has a value map.")
    if str(choice_id) not in {str(c.pk) for c in field.choices.all()}:
        raise WizardError("That choice is gone: reload the page.")
    if value and value not in allowed:
        raise WizardError(
            f"“{value}” is not one of Rally's values of {field_mapping.rally_field} "
            f"({', '.join(allowed)})."
        )
    value_map = dict(field_mapping.value_map or {})
    # "" is kept, not dropped: the owner decided to leave the choice out. They saw Rally's
    # values on the board too, so none of them is new any more.
    value_map[str(choice_id)] = value or ""
    value_map[KNOWN_VALUES] = list(allowed)
    field_mapping.value_map = value_map
    field_mapping.save(update_fields=["value_map"])


def custom_field_of(field_mapping: FieldMapping) -> CustomField | None:
    """The custom field a mapping names, in its integration's workspace (choices prefetched)."""
    if not field_mapping.field.startswith(PREFIX):
        return None
    record_mapping = field_mapping.record_mapping
    return (
        CustomField.objects.filter(
            workspace_id=record_mapping.integration.workspace_id,
            record_type=record_mapping.record_type,
            key=field_mapping.field[len(PREFIX) :],
        )
        .prefetch_related("choices")
        .first()
    )


def value_rows(field: CustomField, value_map: Mapping, allowed: Sequence[str]) -> list:
    """For the value map board: (Rally value or "", [choices mapped to it]), the unmapped
    ones last under "" (`value_map` in the field's own terms: `own_value_map`)."""
    columns: dict[str, list] = {value: [] for value in allowed}
    unmapped: list = []
    for choice in field.choices.all():
        value = value_map.get(choice.pk) or ""
        (columns.setdefault(value, []) if value else unmapped).append(choice)
    return [*columns.items(), ("", unmapped)]
