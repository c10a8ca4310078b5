"""Which Rally field an aharally custom field would map to, and its values: pure functions.

Matched by name first (as the status map matches statuses): "Risk level", "risk_level" and
Rally's `c_RiskLevel` are the same name. A value map sends each aharally choice to one of
Rally's allowed values; several choices may share one (many-to-one); a choice with no match
maps to None, and such a value is neither sent nor applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aharally.rally.metadata import AttributeDefinition
from aharally.workspaces.models import CustomFieldKind

K = CustomFieldKind

# The Rally attribute types each kind can travel to, and how a person reads them.
COMPATIBLE: dict[str, frozenset[str]] = {
    K.TEXT: frozenset({"STRING", "TEXT"}),
    K.RICH_TEXT: frozenset({"TEXT"}),
    K.NUMBER: frozenset({"INTEGER", "DECIMAL", "QUANTITY"}),
    K.DATE: frozenset({"DATE"}),
    K.URL: frozenset({"STRING", "TEXT"}),
    K.CHOICE: frozenset({"STRING", "RATING"}),
    K.CHOICES: frozenset({"COLLECTION"}),
    K.MEMBER: frozenset({"OBJECT"}),
}
WANTS = {
    K.TEXT: "a string or text field",
    K.RICH_TEXT: "a text (rich text) field",
    K.NUMBER: "an integer or decimal field",
    K.DATE: "a date field",
    K.URL: "a string or text field",
    K.CHOICE: "a drop-down or string field",
    K.CHOICES: "a multi-value drop-down",
    K.MEMBER: "a user field",
}


def name_key(name: str) -> str:
    """ "Risk level", "risk_level" and `c_RiskLevel` → "risklevel"."""
    text = re.sub(r"^c_", "", name or "")
    return re.sub(r"[^0-9a-z]", "", text.lower())


def incompatibility(kind: str, attribute: AttributeDefinition, *, field_name: str = "") -> str:
    """Why the kind can't map to the Rally attribute ("" when it can)."""
    if attribute.read_only:
        return f"Rally's {attribute.name} is read-only."
    if (
        kind == K.CHOICES
        and attribute.attribute_type == "COLLECTION"
        and not (attribute.custom or attribute.allowed_values)
    ):
        # Tags, Milestones, Children…: collections of objects, not of allowed values.
        return (
            f"{field_name or 'This field'} is a multiple choice field; Rally's "
            f"{attribute.name} is a collection of objects: map it to {WANTS[kind]}."
        )
    if attribute.attribute_type in COMPATIBLE.get(kind, ()):
        return ""
    label = CustomFieldKind(kind).label.lower()
    return (
        f"{field_name or 'This field'} is a {label} field; Rally's {attribute.name} is "
        f"{attribute.attribute_type}: map it to {WANTS[kind]}."
    )


def auto_value_map(choices: Iterable[str], allowed: Sequence[str]) -> dict[str, str | None]:
    """Each choice → Rally's allowed value of the same name, or None."""
    by_key = {}
    for value in allowed:
        by_key.setdefault(name_key(value), value)
    return {choice: by_key.get(name_key(choice)) for choice in choices}


def own_value_map(field, value_map) -> dict[int, str]:
    """A field mapping's value map in terms of `field`'s choices ({choice id: Rally value}).

    The map is keyed by the choice ids of the workspace whose integration holds it; a
    template group's copies find their source's key through `CustomFieldChoice.shared_from`.
    """
    stored = {str(k): v for k, v in (value_map or {}).items() if v}
    own = {}
    for choice in field.choices.all():
        value = stored.get(str(choice.pk))
        if value is None and choice.shared_from_id is not None:
            value = stored.get(str(choice.shared_from_id))
        if value:
            own[choice.pk] = value
    return own


@dataclass(frozen=True)
class Match:
    """An aharally custom field and the Rally attribute of the same name, if any."""

    field: object  # a workspaces.CustomField, its choices prefetched
    attribute: AttributeDefinition | None
    problem: str = ""
    values: dict[str, str | None] = field(default_factory=dict)

    @property
    def unmatched_values(self) -> list[str]:
        return [choice for choice, value in self.values.items() if value is None]


def suggest(fields: Iterable, attributes: Iterable[AttributeDefinition]) -> list[Match]:
    """For each custom field, the Rally attribute of the same name (a compatible one first),
    the reason it can't take it, and for choice fields the value map by name."""
    by_key: dict[str, list[AttributeDefinition]] = {}
    for attribute in attributes:
        for key in {name_key(attribute.name), name_key(attribute.element_name)}:
            by_key.setdefault(key, []).append(attribute)
    matches = []
    for custom in fields:
        candidates = by_key.get(name_key(custom.name)) or by_key.get(name_key(custom.key)) or []
        ranked = sorted(candidates, key=lambda a: bool(incompatibility(custom.kind, a)))
        attribute = ranked[0] if ranked else None
        if attribute is None:
            matches.append(Match(field=custom, attribute=None))
            continue
        problem = incompatibility(custom.kind, attribute, field_name=custom.name)
        values = {}
        if custom.kind in (K.CHOICE, K.CHOICES) and attribute.allowed_values and not problem:
            names = [choice.name for choice in custom.choices.all()]
            values = auto_value_map(names, attribute.allowed_values)
        matches.append(Match(field=custom, attribute=attribute, problem=problem, values=values))
    return matches
