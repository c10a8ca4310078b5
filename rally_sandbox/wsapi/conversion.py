"""Turning WSAPI request values into stored values, with Rally's error and warning texts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.dateparse import parse_date, parse_datetime

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import User, Workspace

from . import multi_value
from .models import CustomField, State, Tag
from .query import oid_from_ref
from .registry import SPECS, Attr, TypeSpec, spec_for_object
from .render import custom_attr

# Reference targets cached per generation (their saves bump it; see generation.py).
CACHED_TARGETS = frozenset({"Project", "Workspace", "User"})


class FieldConverter:
    """Converts request values for one object, collecting errors and warnings."""

    def __init__(self, spec: TypeSpec, user: User, workspace: Workspace, attrs: dict[str, Attr]):
        self.spec = spec
        self.user = user
        self.workspace = workspace
        self.attrs = attrs
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def label(self, attr: Attr) -> str:
        return f"{self.spec.element_name}.{attr.display}"

    def find(self, name: str) -> Attr | None:
        attr = self.attrs.get(name)
        if attr is not None:
            return attr
        lowered = name.lower()
        for candidate in self.attrs.values():
            if candidate.element_name.lower() in {lowered, f"c_{lowered}"}:
                return candidate
        return None

    def ignored(self, name: str) -> None:
        self.warnings.append(
            f"Ignored JSON element {self.spec.type_path.lower()}.{name} during processing "
            "of this request."
        )

    def convert(self, attr: Attr, value: Any) -> Any:
        kind = attr.attribute_type
        if value is None or (value == "" and kind not in {"STRING", "TEXT"}):
            return None
        if attr.is_object:
            return self.reference(attr, value)
        if attr.is_collection and attr.custom:
            return multi_value.convert(attr, value, self.label(attr), self.errors)
        if attr.is_collection:
            return self.members(attr, value)
        allowed = attr.allowed_values(self.workspace)
        if allowed:
            for option in allowed:
                if str(value).lower() == option.lower():
                    return option
            self.errors.append(
                f'Validation error: {self.label(attr)} has an invalid value "{value}"; '
                f"allowed values are {', '.join(allowed)}"
            )
            return None
        if kind in {"STRING", "TEXT"}:
            if not isinstance(value, str | int | float):
                self.errors.append(f"Could not convert: {self.label(attr)} must be a string")
                return None
            text = str(value)
            if "\x00" in text or (kind == "TEXT" and "<script" in text.lower()):
                self.errors.append(
                    f"Validation error: {self.label(attr)} contained invalid input. "
                    "Search 'HTML Whitelist' at help.rallydev.com for details."
                )
            limit = self._max_length(attr)
            if len(text) > limit:
                self.errors.append(
                    f"Validation error: {self.label(attr)} must not be longer than {limit} "
                    "characters"
                )
            return text
        if kind in {"INTEGER", "QUANTITY", "DECIMAL"}:
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError, OverflowError):
                number = None
            if number is not None and not math.isfinite(number):
                number = None  # NaN, Infinity and 1e400 are no quantity Rally stores
            if kind == "INTEGER" and number is not None and abs(number) > MAX_INTEGER:
                number = None
            if number is None:
                self.errors.append(
                    f'Could not convert: Cannot convert "{value}" to a number for '
                    f"{self.label(attr)}"
                )
                return None
            if kind in {"QUANTITY"} and number < 0:
                self.errors.append(f"Validation error: {self.label(attr)} cannot be negative")
            return int(number) if kind == "INTEGER" else number
        if kind == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in {"true", "false"}:
                return str(value).lower() == "true"
            self.errors.append(
                f'Could not convert: Cannot convert "{value}" to a boolean for {self.label(attr)}'
            )
            return None
        if kind == "DATE":
            try:
                return _moment(str(value))
            except (ValueError, OverflowError):
                # Not a date, an impossible one (2027-02-30) or one past year 9999 in UTC.
                self.errors.append(
                    f'Could not convert: Cannot convert "{value}" to a date for {self.label(attr)}'
                )
                return None
        return value

    def _max_length(self, attr: Attr) -> int:
        """What the column holds: Rally's 256 for strings, less for some (DisplayColor)."""
        limit = 256 if attr.attribute_type == "STRING" else 32_768
        if attr.custom or not attr.column or "__" in attr.column:
            return limit
        try:
            field = self.spec.model._meta.get_field(attr.column)
        except FieldDoesNotExist:
            return limit
        return min(limit, field.max_length) if getattr(field, "max_length", None) else limit

    def reference(self, attr: Attr, value: Any):
        raw = value.get("_ref") if isinstance(value, dict) else value
        target = SPECS.get(attr.target or "")
        if target is None:
            self.errors.append(f"Could not set value for {attr.display}: unsupported reference")
            return None
        if attr.target == "State" and isinstance(raw, str) and "/" not in raw:
            # A portfolio item state may be given by name.
            state = State.objects.filter(
                workspace=self.workspace,
                type_definition__type_path=self.spec.type_path,
                name__iexact=raw.strip(),
            ).first()
            if state is None:
                self.errors.append(
                    f'Validation error: {self.label(attr)} has an invalid value "{raw}"'
                )
            return state
        oid = oid_from_ref(str(raw)) if raw is not None else None
        if oid is None:
            self.errors.append(f'Could not set value for {attr.display}: Invalid reference "{raw}"')
            return None
        key = {target.oid_field: oid} if isinstance(oid, int) else {"uuid": oid}
        if attr.target in CACHED_TARGETS:
            # A create's Project (or Owner) names one of a few rows that rarely change.
            obj = generation.cached(
                ("ref", attr.target, str(oid)), lambda: target.queryset().filter(**key).first()
            )
        else:
            obj = target.queryset().filter(**key).first()
        if obj is None:
            self.errors.append(
                f"Could not set value for {attr.display}: Cannot find object to read: {raw}"
            )
            return None
        obj_workspace = getattr(obj, "workspace_id", None)
        if isinstance(obj, Workspace):
            obj_workspace = obj.pk
        if obj_workspace is not None and obj_workspace != self.workspace.pk:
            self.errors.append(
                f"Could not set value for {attr.display}: {spec_for_object(obj).element_name} "
                f"{oid} is in a different workspace than {self.workspace.name}"
            )
            return None
        if isinstance(obj, User) and obj.subscription_id != self.workspace.subscription_id:
            self.errors.append(
                f"Could not set value for {attr.display}: Cannot find object to read"
            )
            return None
        return obj

    def members(self, attr: Attr, value: Any) -> list:
        items = value if isinstance(value, list) else [value]
        found = []
        for item in items:
            if isinstance(item, dict) and "_ref" not in item and attr.element_name == "Tags":
                name = str(item.get("Name") or "").strip()
                if not name:
                    self.errors.append("Validation error: Tag.Name should not be null")
                    continue
                tag, _ = Tag.objects.get_or_create(workspace=self.workspace, name=name)
                found.append(tag)
                continue
            obj = self.reference(attr, item)
            if obj is not None:
                found.append(obj)
        return found


# INTEGER attributes are stored in 32-bit columns (Rally's are Java ints).
MAX_INTEGER = 2**31 - 1


def _moment(text: str) -> datetime:
    """A date or date-time as an aware UTC datetime; ValueError or OverflowError if none."""
    parsed = parse_datetime(text.replace("Z", "+00:00")) if "T" in text else None
    if parsed is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def attributes_for(spec: TypeSpec, workspace: Workspace) -> dict[str, Attr]:
    def load() -> list[Attr]:
        fields = CustomField.objects.filter(workspace=workspace, type_path=spec.type_path)
        return [custom_attr(custom) for custom in fields.order_by("object_id")]

    attrs = dict(spec.attributes)
    for attr in generation.cached(("custom", workspace.pk, spec.type_path), load):
        attrs[attr.element_name] = attr
    return attrs
