"""Multi-value drop-down custom fields: Rally's "Drop-Down List (Multi-Value)".

What Rally shows of them (the facts this module keeps; docs/rally-sandbox.md says where from):
- the attribute is a COLLECTION whose AllowedValueType is AllowedAttributeValue and whose
  `AllowedValues` lists the values (one `AllowedAttributeValue` each, `StringValue`);
- an artifact renders it as a collection summary of `_type` AllowedAttributeValue with a
  `_tagsNameArray` and a `Count` (samples/single-object-testcase.json's `c_Component`), and
  `GET <artifact>/<c_Field>` lists the chosen values;
- a write gives the whole set as a list of refs to allowed values, like any collection
  (`[{"_ref": ".../allowedattributevalue/…"}]`), or adds and removes them through
  `<artifact>/<c_Field>/add|remove`. A value not in the list is refused with the drop-down's
  own "has an invalid value" error, and nothing of the write is kept.

The sandbox keeps the chosen values as strings (in allowed-value order) in the artifact's
`custom` JSON. An allowed value's ObjectID is made from its attribute's and its index
(`value_oid`), so a ref is `allowedattributevalue/<oid>` as Rally's are: pyral takes a ref's
last two path segments as the object's ref, and greases a list of them for a collection.
"""

from __future__ import annotations

import re
from typing import Any

from .typespec import Attr

API = {"_rallyAPIMajor": "2", "_rallyAPIMinor": "0"}
_VALUE_REF = re.compile(r"allowedattributevalue/(-?\d+)/?$", re.IGNORECASE)
# Room for each attribute's allowed values inside its ObjectID (custom_fields.py caps them).
VALUES_PER_ATTRIBUTE = 1000


def value_oid(attribute_oid: int, index: int) -> int:
    """The ObjectID of an attribute's allowed value (built-in attributes' are negative)."""
    sign = -1 if attribute_oid < 0 else 1
    return sign * (abs(attribute_oid) * VALUES_PER_ATTRIBUTE + index)


def split_value_oid(oid: int) -> tuple[int, int]:
    """(attribute ObjectID, index) of an allowed value's ObjectID."""
    sign = -1 if oid < 0 else 1
    attribute, index = divmod(abs(oid), VALUES_PER_ATTRIBUTE)
    return sign * attribute, index


def is_multi_value(attr: Attr) -> bool:
    return attr.custom and attr.is_collection


def value_ref(attr: Attr, index: int) -> str:
    """The relative ref of one allowed value (what `_tagsNameArray` and the UI's form use)."""
    return f"/allowedattributevalue/{value_oid(attr.oid, index)}"


def chosen(attr: Attr, stored: Any) -> list[str]:
    """The stored values that are still allowed, in the allowed values' order."""
    allowed = list(attr.allowed or ())
    held = set(stored) if isinstance(stored, list) else set()
    return [value for value in allowed if value in held]


def summary(attr: Attr, stored: Any, collection_url: str) -> dict:
    """The artifact's collection summary of the field (names inline, as Rally gives them)."""
    allowed = list(attr.allowed or ())
    names = [
        {"Name": value, "_ref": value_ref(attr, allowed.index(value))}
        for value in chosen(attr, stored)
    ]
    return {
        **API,
        "_ref": collection_url,
        "_type": "AllowedAttributeValue",
        "_tagsNameArray": names,
        "Count": len(names),
    }


def value_items(
    attr: Attr, values: list[str], wsapi: str, *, allowed: list[str] | None = None
) -> list[dict]:
    """Allowed values as WSAPI objects (an attribute's AllowedValues, an artifact's set);
    `allowed`: the attribute's values when they depend on the workspace (ScheduleState)."""
    allowed = list(attr.allowed or ()) if allowed is None else allowed
    return [
        {
            **API,
            "_ref": f"{wsapi}{value_ref(attr, allowed.index(value))}",
            "_refObjectName": value,
            "ObjectID": value_oid(attr.oid, allowed.index(value)),
            "StringValue": value,
            "LocalizedStringValue": value,
            "IntegerValue": None,
            "ValueIndex": allowed.index(value),
            "_type": "AllowedAttributeValue",
        }
        for value in values
    ]


def convert(attr: Attr, value: Any, label: str, errors: list[str]) -> list[str] | None:
    """A request's set of allowed-value refs as the stored list; appends Rally's error for a
    value the field does not allow (a bare string, another field's value, a made-up ref)."""
    items = value if isinstance(value, list) else [value]
    allowed = list(attr.allowed or ())
    found: set[str] = set()
    for item in items:
        raw = item.get("_ref") if isinstance(item, dict) else item
        match = _VALUE_REF.search(str(raw or "").strip())
        owner, index = split_value_oid(int(match.group(1))) if match else (None, -1)
        index = index if owner == attr.oid else -1
        if 0 <= index < len(allowed):
            found.add(allowed[index])
            continue
        shown = raw if raw is not None else item
        errors.append(
            f'Validation error: {label} has an invalid value "{shown}"; '
            f"allowed values are {', '.join(allowed)}"
        )
    return [value for value in allowed if value in found] or None


def changed_set(attr: Attr, stored: Any, refs: list[str], *, add: bool) -> list[dict]:
    """The whole set after a collection add or remove, as the refs a write takes."""
    allowed = list(attr.allowed or ())
    current = set(chosen(attr, stored))
    errors: list[str] = []
    given = set(convert(attr, refs, attr.element_name, errors) or [])
    if errors:
        return [{"_ref": ref} for ref in refs]  # the write reports the bad value
    result = current | given if add else current - given
    return [{"_ref": value_ref(attr, allowed.index(v))} for v in allowed if v in result]
