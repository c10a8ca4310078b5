"""Custom fields: a subscription administrator adds attributes of a workspace's own to a type.

As in Rally, a custom field belongs to one workspace and one type; its ElementName is `c_`
and its display name without spaces or punctuation (`Risk Level` → `c_RiskLevel`). The kinds
Rally offers map to attribute types: String, Text, Integer, Decimal, Date, Boolean, a
drop-down list (STRING with allowed values), a multi-value drop-down list (COLLECTION of
AllowedAttributeValues, `multi_value.py`) and a user (OBJECT whose AllowedValueType is User).
Type and attribute definitions then report it (`Custom: true`), WSAPI reads, writes
and queries it, and writes are validated as Rally validates them (`conversion.py`). The web
page, the admin API and the demo seed all call here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from rally_sandbox.accounts.models import Workspace

from .metadata import custom_element_name
from .models import CustomField
from .multi_value import VALUES_PER_ATTRIBUTE
from .registry import SPECS, spec_for_name
from .required_fields import RuleError, creatable_type_paths

# What a person picks → (AttributeType, whether it needs allowed values).
KINDS: dict[str, tuple[str, bool]] = {
    "STRING": ("STRING", False),
    "TEXT": ("TEXT", False),
    "INTEGER": ("INTEGER", False),
    "DECIMAL": ("DECIMAL", False),
    "DATE": ("DATE", False),
    "BOOLEAN": ("BOOLEAN", False),
    "DROP_DOWN": ("STRING", True),
    "MULTI_DROP_DOWN": ("COLLECTION", True),
    "USER": ("OBJECT", False),
}
MAX_ALLOWED_VALUE = 256


class CustomFieldError(RuleError):
    """The custom field cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class Field:
    workspace: str
    type_path: str
    element_name: str
    name: str
    kind: str
    attribute_type: str
    allowed_values: list[str]
    required: bool

    def as_dict(self) -> dict:
        return {
            "workspace": self.workspace,
            "type": self.type_path,
            "field": self.element_name,
            "name": self.name,
            "kind": self.kind,
            "attribute_type": self.attribute_type,
            "allowed_values": self.allowed_values,
            "required": self.required,
        }


def _kind(row: CustomField) -> str:
    if row.attribute_type == "OBJECT":
        return "USER"
    if row.attribute_type == "STRING" and row.allowed_values:
        return "DROP_DOWN"
    if row.attribute_type == "COLLECTION":
        return "MULTI_DROP_DOWN"
    return row.attribute_type


def _as_field(row: CustomField) -> Field:
    return Field(
        workspace=row.workspace.name,
        type_path=row.type_path,
        element_name=row.element_name,
        name=row.name,
        kind=_kind(row),
        attribute_type=row.attribute_type,
        allowed_values=list(row.allowed_values or []),
        required=row.required,
    )


def _type(type_name) -> str:
    spec = spec_for_name(type_name) if isinstance(type_name, str) else None
    if spec is None or spec.abstract or not spec.creatable:
        raise CustomFieldError(
            f'"{type_name}" is not a type whose objects can be created: use one of '
            f"{', '.join(creatable_type_paths())}."
        )
    return spec.type_path


def _allowed(values) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = values.splitlines()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CustomFieldError("Give the allowed values as a list of strings.")
    cleaned: list[str] = []
    if len(values) >= VALUES_PER_ATTRIBUTE:
        raise CustomFieldError(f"A field has fewer than {VALUES_PER_ATTRIBUTE} allowed values.")
    for value in (v.strip() for v in values):
        if not value:
            continue
        if len(value) > MAX_ALLOWED_VALUE:
            raise CustomFieldError(f"An allowed value is at most {MAX_ALLOWED_VALUE} characters.")
        if value.lower() in {c.lower() for c in cleaned}:
            raise CustomFieldError(f'"{value}" is listed twice.')
        cleaned.append(value)
    return cleaned


def list_fields(*, workspace: Workspace | None = None) -> list[Field]:
    rows = CustomField.objects.select_related("workspace").order_by(
        "workspace__name", "type_path", "element_name"
    )
    if workspace is not None:
        rows = rows.filter(workspace=workspace)
    return [_as_field(row) for row in rows]


def add_field(
    *,
    workspace: Workspace,
    type_name: str,
    name: str,
    kind: str,
    allowed_values=None,
    required: bool = False,
) -> tuple[Field, bool]:
    """Add the custom field (or find it, when one of that name has the same kind)."""
    type_path = _type(type_name)
    name = " ".join(str(name or "").split())
    element_name = custom_element_name(name)
    if element_name == "c_":
        raise CustomFieldError("Give the field a name with letters or digits, e.g. Risk Level.")
    if len(element_name) > 100:
        raise CustomFieldError("Keep the field's name to 98 characters or fewer.")
    kind = str(kind or "").strip().upper().replace("-", "_").replace(" ", "_")
    if kind not in KINDS:
        raise CustomFieldError(f"Choose the kind of field: one of {', '.join(KINDS)}.")
    attribute_type, needs_values = KINDS[kind]
    values = _allowed(allowed_values)
    if needs_values and not values:
        raise CustomFieldError("A drop-down list needs its allowed values.")
    if values and not needs_values:
        raise CustomFieldError("Only a drop-down list has allowed values.")
    if element_name in SPECS[type_path].attributes:
        raise CustomFieldError(f"{type_path} already has a built-in attribute {element_name}.")
    with transaction.atomic():
        row, created = CustomField.objects.select_for_update().get_or_create(
            workspace=workspace,
            type_path=type_path,
            element_name=element_name,
            defaults={
                "name": name,
                "attribute_type": attribute_type,
                "allowed_values": values,
                "required": bool(required),
            },
        )
        if not created:
            if row.attribute_type != attribute_type:
                raise CustomFieldError(
                    f"{type_path}.{element_name} already exists as a {_kind(row)} field."
                )
            row.name, row.allowed_values, row.required = name, values, bool(required)
            row.save(update_fields=["name", "allowed_values", "required"])
    return _as_field(row), created


def remove_field(*, workspace: Workspace, type_name: str, field_name: str) -> Field:
    """Remove the custom field; values stored on artifacts stay in their JSON, unseen."""
    type_path = _type(type_name)
    wanted = str(field_name or "").strip().lower()
    row = next(
        (
            row
            for row in CustomField.objects.filter(workspace=workspace, type_path=type_path)
            if row.element_name.lower() in {wanted, f"c_{wanted}"}
        ),
        None,
    )
    if row is None:
        raise CustomFieldError(
            f"{type_path} has no custom field {field_name} in workspace {workspace.name}."
        )
    field = _as_field(row)
    row.delete()
    return field
