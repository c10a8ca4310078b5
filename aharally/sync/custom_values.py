"""Custom fields in the sync: their mappings' definitions, and the explicit conversions of
their values between `records.CustomValue` rows and Rally's attributes.

A field mapping names a custom field by its form name, `cf_<key>`; its definition is the
record's workspace's field of that key (a template group's copies share keys). Values travel
in the normalised form baselines keep (as `mapping.py`'s do), empty always as None:

- text and URL: the text stripped; rich text sanitised (both ways) with white space folded;
- number: an int when whole, else a float; date: `YYYY-MM-DD` (Rally's are date-times);
- member: the e-mail address (Rally's user through People when paired, else by e-mail);
- single choice: *Rally's* allowed value, through the mapping's value map (as a status
  travels as its Rally state): two choices mapped to one value (many-to-one) are then the
  same to the sync. A choice the map leaves out has no Rally value: it is neither sent nor
  applied, and the record's integration history says so;
- multiple choice: the sorted Rally values of its mapped choices, to and from Rally's
  multi-value drop-down (a COLLECTION of allowed values): sent as the refs of those values
  (the whole set), read from the collection summary's names (`_tagsNameArray`), so neither
  way costs a request more. If any chosen value has no counterpart the field is neither sent
  nor applied (never a partial set that would drop a value), and the history says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from aharally.integrations.custom_matching import own_value_map
from aharally.records.custom import PREFIX, read_many
from aharally.records.richtext import sanitize_html
from aharally.sync import mapping
from aharally.workspaces.models import CustomField, CustomFieldKind

K = CustomFieldKind
# Rally's INTEGER attributes are 32 bits.
RALLY_INT_MAX = 2**31 - 1
# An incoming choice value no choice maps to: not applied (the history says why).
UNMAPPED = object()


def is_custom(field_name: str) -> bool:
    return field_name.startswith(PREFIX)


@dataclass(frozen=True)
class CustomSpec:
    """One mapped custom field as the sync sees it in one workspace."""

    field: CustomField  # the workspace's own definition (or its copy), choices prefetched
    # {this workspace's choice id: Rally's value}, from the mapping's value map.
    value_map: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.field.name

    def choice_for(self, rally_value: str):
        """The first choice (layout order) whose Rally value is `rally_value`, or None."""
        wanted = rally_value.strip().lower()
        for choice in self.field.choices.all():
            mapped = self.value_map.get(choice.pk)
            if mapped is not None and mapped.strip().lower() == wanted:
                return choice
        return None


def specs_for(
    field_mappings: Iterable, workspace_id: int, *, record_type: str
) -> dict[str, CustomSpec]:
    """{`cf_<key>`: spec} of the custom fields the mappings (of one record mapping) name, in
    `workspace_id` (a key is unique per record type only: features and stories may both
    have `risk`).

    No query when no mapping names a custom field; else two (fields, their choices).
    A mapping whose field is gone from the workspace is left out (nothing to send).
    """
    wanted = {m.field: m for m in field_mappings if is_custom(m.field)}
    if not wanted:
        return {}
    fields = CustomField.objects.filter(
        workspace_id=workspace_id,
        record_type=record_type,
        key__in=[name[len(PREFIX) :] for name in wanted],
    ).prefetch_related("choices")
    specs = {}
    for custom in fields:
        row = wanted.get(custom.form_name)
        if row is None:
            continue
        own = own_value_map(custom, row.value_map)
        specs[custom.form_name] = CustomSpec(field=custom, value_map=own)
    return specs


def load(records: Iterable, specs: Mapping[str, CustomSpec]) -> None:
    """Read the custom values of `records` for `specs` at once (one query), and keep them on
    each record for `record_value` (a catch-up's chunk, a drain's record)."""
    records = [r for r in records if r is not None]
    if not specs or not records:
        return
    fields = [spec.field for spec in specs.values()]
    values = read_many([r.pk for r in records], fields)
    for record in records:
        record._custom_values = values[record.pk]


def _values_of(record, specs: Mapping[str, CustomSpec]) -> dict[str, Any]:
    loaded = getattr(record, "_custom_values", None)
    if loaded is None:
        load([record], specs)
        loaded = record._custom_values
    return loaded


# -- aharally → the normalised form ------------------------------------------------------------


def record_value(record, spec: CustomSpec, specs: Mapping[str, CustomSpec]) -> Any:
    """The normalised value of a record's custom field (loaded with `load`, or read now)."""
    return normalise(spec, _values_of(record, specs).get(spec.field.form_name))


def normalise(spec: CustomSpec, value: Any) -> Any:
    """A Python value of the field (as `records.custom` reads it) in the normalised form."""
    kind = spec.field.kind
    if value is None or value == "" or value == []:
        return None
    if kind == K.CHOICE:
        return spec.value_map.get(value.pk)
    if kind == K.CHOICES:
        mapped = {spec.value_map.get(choice.pk) for choice in value} - {None}
        return sorted(mapped) or None
    if kind == K.MEMBER:
        return (value.email or "").strip() or None
    if kind == K.NUMBER:
        return mapping.normalise_number(value)
    if kind == K.DATE:
        return mapping.normalise_date(value)
    if kind == K.RICH_TEXT:
        return mapping.normalise_html(sanitize_html(str(value))) or None
    return str(value).strip() or None


def unmapped_choices(record, spec: CustomSpec, specs) -> list[str]:
    """The names of the record's choices the value map leaves out (not sent)."""
    if spec.field.kind not in (K.CHOICE, K.CHOICES):
        return []
    value = _values_of(record, specs).get(spec.field.form_name)
    chosen = value if isinstance(value, list) else [value] if value is not None else []
    return [choice.name for choice in chosen if choice.pk not in spec.value_map]


# -- the normalised form → Rally ---------------------------------------------------------------


class NotSendable(Exception):
    """The value can't go to this Rally attribute; the message says why (for the history)."""


def to_rally(spec: CustomSpec, value: Any, attribute) -> Any:
    """A normalised value as Rally's attribute takes it (a member goes through People, in
    the payload). Raises NotSendable for a number Rally's attribute can't hold."""
    kind = spec.field.kind
    integer = kind == K.NUMBER and attribute.attribute_type == "INTEGER"
    if integer and value is not None and (value != int(value) or abs(int(value)) > RALLY_INT_MAX):
        raise NotSendable(
            f"{spec.label} is {value}, and Rally's {attribute.name} takes whole numbers "
            f"up to {RALLY_INT_MAX:,}: it is not sent."
        )
    if kind == K.CHOICES:
        return _value_refs(spec, value, attribute)
    if value is None:
        return "" if kind in (K.TEXT, K.URL, K.RICH_TEXT) else None
    if kind == K.DATE:
        return f"{value}T12:00:00.000Z"  # noon UTC: no time zone moves it to another day
    return value


def _value_refs(spec: CustomSpec, values: list[str] | None, attribute) -> list[dict]:
    """A multi-value drop-down's whole set as Rally takes it: refs of its allowed values."""
    refs, missing = [], []
    for value in values or []:
        ref = attribute.value_ref(value)
        (refs if ref is not None else missing).append(ref or value)
    if missing:
        raise NotSendable(
            f"{spec.label} is {display(sorted(missing))}, which Rally's {attribute.name} does not "
            f"allow (its values are {', '.join(attribute.allowed_values or ())}): it is not "
            "sent. Map the choice to one of them in the field mapping."
        )
    return [{"_ref": ref.path} for ref in refs]


# -- Rally → the normalised form, and → the record ---------------------------------------------


def from_rally(spec: CustomSpec, value: Any, people=None) -> Any:
    """Rally's value of the attribute in the normalised form, or mapping.UNKNOWN."""
    kind = spec.field.kind
    if kind == K.MEMBER:
        if value is None:
            return None
        email = value.get("EmailAddress") if isinstance(value, Mapping) else None
        if not email:
            return mapping.UNKNOWN  # a user read without its address: not a change
        email = str(email).strip()
        return people.in_aharally(value, email) if people is not None else email
    if kind == K.CHOICES:
        return _multi_value(value)
    if isinstance(value, Mapping):
        return mapping.UNKNOWN
    if value is None or value == "":
        return None
    if kind == K.NUMBER:
        return mapping.normalise_number(value)
    if kind == K.DATE:
        return mapping.normalise_date(value)
    if kind == K.RICH_TEXT:
        return mapping.normalise_html(sanitize_html(str(value))) or None
    return str(value).strip() or None


def _multi_value(value: Any) -> Any:
    """A multi-value drop-down as Rally renders it — a collection summary whose
    `_tagsNameArray` names the chosen values (samples/single-object-testcase.json), or a list
    of allowed values — as the sorted names; mapping.UNKNOWN when Rally gave no names."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        if "_tagsNameArray" not in value:
            return None if value.get("Count") == 0 else mapping.UNKNOWN
        value = value["_tagsNameArray"]
    items = value if isinstance(value, list) else str(value).split(",")
    names = set()
    for item in items:
        name = item.get("Name") or item.get("StringValue") if isinstance(item, Mapping) else item
        if str(name or "").strip():
            names.add(str(name).strip())
    return sorted(names) or None


def changed_in_rally(field_name: str, incoming: Any, agreed: Mapping) -> bool:
    """Whether Rally's normalised value differs from the baseline (`agreement`'s rule for
    custom fields): never agreed (mapped after the link was made), an empty value is no
    wish to clear ours."""
    if incoming is mapping.UNKNOWN or agreed.get(field_name) == incoming:
        return False
    return field_name in agreed or incoming is not None


def to_record(spec: CustomSpec, incoming: Any, *, workspace_id: int, people=None) -> Any:
    """A normalised Rally value as the record's custom value (`update_records`' `cf_<key>`),
    UNMAPPED when a choice has no match here, or mapping.UNKNOWN for a person who is no one
    here."""
    kind = spec.field.kind
    if kind == K.CHOICE:
        if incoming is None:
            return None
        choice = spec.choice_for(incoming)
        return choice if choice is not None else UNMAPPED
    if kind == K.CHOICES:
        chosen = [spec.choice_for(v) for v in incoming or []]
        if any(c is None for c in chosen):
            return UNMAPPED
        return list(dict.fromkeys(chosen))
    if incoming is None:
        return "" if kind in (K.TEXT, K.URL, K.RICH_TEXT) else None
    if kind == K.NUMBER:
        return Decimal(str(incoming))
    if kind == K.DATE:
        return date.fromisoformat(incoming)
    if kind == K.MEMBER:
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        if people is not None:
            member_id = people.member_id(incoming, workspace_id)
            user = users.filter(pk=member_id).first() if member_id else None
        else:
            user = users.filter(
                email__iexact=incoming, memberships__workspace_id=workspace_id
            ).first()
        return user if user is not None else mapping.UNKNOWN
    return str(incoming)


def display(value: Any) -> str:
    if value is None or value == []:
        return "empty"
    if isinstance(value, list):
        return ", ".join(value)
    return f"“{value}”"


def shown(spec: CustomSpec, value: Any) -> str:
    """A normalised value as a person reads it beside Rally's, with the value map applied: a
    choice's Rally value and the choices that map to it (“Amber (Medium, Moderate)”), or
    that none does."""
    if value is None or value == []:
        return ""
    if spec.field.kind not in (K.CHOICE, K.CHOICES):
        if spec.field.kind == K.RICH_TEXT:
            return mapping.html_to_text(str(value))
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    parts = []
    for rally_value in value if isinstance(value, list) else [value]:
        wanted = str(rally_value).strip().lower()
        names = [
            choice.name
            for choice in spec.field.choices.all()
            if (spec.value_map.get(choice.pk) or "").strip().lower() == wanted
        ]
        meaning = ", ".join(names) if names else f"no choice of {spec.label} maps to it"
        parts.append(f"{rally_value} ({meaning})")
    return "; ".join(parts)


def not_applied(spec: CustomSpec, rally_field: str, incoming: Any) -> str:
    """The history's line for a Rally value left out (ActivityAction.NOT_APPLIED: "Not
    applied from Rally: “Purple” has no mapping for Risk …")."""
    if isinstance(incoming, list):
        missing = [v for v in incoming if spec.choice_for(str(v)) is None] or incoming
        where = f"Rally's {rally_field} is {display(incoming)}"
    else:
        missing, where = [incoming], f"Rally's {rally_field}"
    return (
        f"{_quoted(missing)} {'has' if len(missing) == 1 else 'have'} no mapping for "
        f"{spec.label} ({where}): {spec.label} is left as it was. Add the value to the field "
        "mapping's value map."
    )


def not_sent(spec: CustomSpec, names: list[str]) -> str:
    """The history's line for choices kept home (ActivityAction.NOT_SENT)."""
    return (
        f"{_quoted(names)} {'has' if len(names) == 1 else 'have'} no mapping for Rally's "
        f"values: {spec.label} is not sent, and Rally keeps its own. Map the choice in the "
        "field mapping's value map."
    )


def _quoted(values: list) -> str:
    return ", ".join(f"“{v}”" for v in values)
