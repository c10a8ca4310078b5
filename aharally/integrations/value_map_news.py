"""What changed on either side since a value map was made: a choice added to the aharally field,
or an allowed value Rally added. Neither is dropped silently: both show as new and unmapped on
the mapping step and on Manage integrations until the owner decides, and a pair whose names are
equal is matched at once (`match_by_name`).

How a value map remembers what was there (`FieldMapping.value_map`, no column of its own):
- `{"<choice id>": "Rally value"}` a mapped choice; `{"<choice id>": ""}` one the owner left
  unmapped (decided); a choice with no key is new since the map was made;
- `{"rally_values": [...]}` Rally's allowed values the map was made (or last edited) with;
  a value Rally lists beyond them is new. A map saved before this key existed knows none,
  so nothing of Rally's counts as new there, nothing is matched by name, and its unmapped
  choices show as new until the owner maps them or leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aharally.integrations.custom_matching import name_key
from aharally.workspaces.models import CHOICE_KINDS, CustomField

KNOWN_VALUES = "rally_values"
PREFIX = "cf_"


def _decided(value_map) -> dict[str, str]:
    return {str(k): v or "" for k, v in (value_map or {}).items() if str(k).isdigit()}


def _key_of(choice, decided: dict[str, str]) -> str | None:
    """The key a choice (or, in a template group's copy, its source) holds in the map."""
    if str(choice.pk) in decided:
        return str(choice.pk)
    if choice.shared_from_id is not None and str(choice.shared_from_id) in decided:
        return str(choice.shared_from_id)
    return None


@dataclass
class News:
    """A value map's news: choices nobody decided on, Rally values it has not seen (and no
    choice maps to), and the pairs whose names are equal ({choice: Rally value})."""

    field: CustomField
    new_choices: list = field(default_factory=list)
    new_values: list[str] = field(default_factory=list)
    matches: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new_choices or self.new_values)

    def summary(self) -> str:
        parts = []
        if self.new_choices:
            names = ", ".join(f"“{c.name}”" for c in self.new_choices)
            parts.append(
                f"new choice{'s' if len(self.new_choices) > 1 else ''} {names} of "
                f"{self.field.name} not mapped (neither sent nor applied)"
            )
        if self.new_values:
            names = ", ".join(f"“{v}”" for v in self.new_values)
            parts.append(
                f"new Rally value{'s' if len(self.new_values) > 1 else ''} {names} that no "
                f"choice of {self.field.name} maps to"
            )
        return "; ".join(parts)


def news_of(field: CustomField, value_map, allowed: Sequence[str] | None) -> News:
    """The news of one value map (`allowed`: Rally's values now, None when not read)."""
    decided = _decided(value_map)
    known = (value_map or {}).get(KNOWN_VALUES)
    choices = list(field.choices.all())
    new_choices = [c for c in choices if _key_of(c, decided) is None]
    mapped_values = {decided[k] for c in choices if (k := _key_of(c, decided)) and decided[k]}
    new_values = []
    if allowed is not None and known is not None:
        new_values = [v for v in allowed if v not in known and v not in mapped_values]
    by_name: dict[str, str] = {}
    for value in allowed if allowed is not None else (known or []):
        by_name.setdefault(name_key(value), value)
    fresh = {name_key(v) for v in new_values}
    matches = {}
    # A map saved before it kept "" for a choice left out can't tell one the owner unmapped
    # from one never decided: nothing is matched there until the owner next edits it.
    for choice in choices if known is not None else ():
        key = _key_of(choice, decided)
        value = by_name.get(name_key(choice.name))
        if value is None:
            continue
        # A new choice takes Rally's value of its name; a choice left unmapped takes a value
        # of its name only when Rally has just added it (the owner's choice stands otherwise).
        if key is None or (not decided[key] and name_key(value) in fresh):
            matches[choice] = value
    return News(field=field, new_choices=new_choices, new_values=new_values, matches=matches)


def match_by_name(field_mapping, field: CustomField, allowed: Sequence[str] | None) -> list[str]:
    """Map the pairs of equal names (saved); what was matched, as "Choice → value"."""
    news = news_of(field, field_mapping.value_map, allowed)
    if not news.matches:
        return []
    value_map = dict(field_mapping.value_map or {})
    for choice, value in news.matches.items():
        value_map[_key_of(choice, _decided(value_map)) or str(choice.pk)] = value
    field_mapping.value_map = value_map
    field_mapping.save(update_fields=["value_map"])
    return [f"{choice.name} → {value}" for choice, value in news.matches.items()]


def acknowledge(field_mapping, field: CustomField, allowed: Sequence[str]) -> None:
    """The owner saw the news and leaves the rest unmapped: new choices are decided as not
    mapped, and Rally's values now are the ones the map knows."""
    value_map = dict(field_mapping.value_map or {})
    decided = _decided(value_map)
    for choice in field.choices.all():
        if _key_of(choice, decided) is None:
            value_map[str(choice.pk)] = ""
    value_map[KNOWN_VALUES] = list(allowed)
    field_mapping.value_map = value_map
    field_mapping.save(update_fields=["value_map"])


# -- choices added in aharally ---------------------------------------------------------------


def on_definitions_changed(*, workspace_id: int) -> None:
    """A workspace's custom fields changed: a new choice whose name is one of Rally's values
    the map knows is mapped to it at once (no request to Rally)."""
    from aharally.integrations.models import FieldMapping

    mappings = list(
        FieldMapping.objects.filter(
            record_mapping__integration__workspace_id=workspace_id, field__startswith=PREFIX
        ).select_related("record_mapping")
    )
    if not mappings:
        return
    fields = _fields_for(workspace_id, mappings)
    for fm in mappings:
        custom = fields.get((fm.record_mapping.record_type, fm.field))
        known = (fm.value_map or {}).get(KNOWN_VALUES)
        if custom is not None and known is not None:
            match_by_name(fm, custom, known)


def _fields_for(workspace_id: int, mappings: Iterable) -> dict[tuple[str, str], CustomField]:
    keys = {fm.field[len(PREFIX) :] for fm in mappings}
    found = CustomField.objects.filter(
        workspace_id=workspace_id, key__in=keys, kind__in=list(CHOICE_KINDS)
    ).prefetch_related("choices")
    return {(f.record_type, f.form_name): f for f in found}


# -- Manage integrations ---------------------------------------------------------------------


def report_news(integrations: Sequence) -> dict[int, list[str]]:
    """{integration id: one line per value map with choices nobody mapped yet}: three queries
    whatever the number of integrations (Rally is not asked: its new values show on the
    mapping step, which reads them)."""
    from aharally.integrations.models import FieldMapping

    if not integrations:
        return {}
    sources = {i.pk: (i.template_id or i.pk) for i in integrations}
    workspaces = {i.pk: i.workspace_id for i in integrations}
    mappings = list(
        FieldMapping.objects.filter(
            record_mapping__integration_id__in=set(sources.values()), field__startswith=PREFIX
        ).select_related("record_mapping")
    )
    if not mappings:
        return {}
    fields = CustomField.objects.filter(
        workspace_id__in=set(workspaces.values()),
        key__in={fm.field[len(PREFIX) :] for fm in mappings},
        kind__in=list(CHOICE_KINDS),
    ).prefetch_related("choices")
    by_key = {(f.workspace_id, f.record_type, f.form_name): f for f in fields}
    found: dict[int, list[str]] = {}
    for integration_id, source_id in sources.items():
        for fm in mappings:
            if fm.record_mapping.integration_id != source_id:
                continue
            key = (workspaces[integration_id], fm.record_mapping.record_type, fm.field)
            custom = by_key.get(key)
            news = news_of(custom, fm.value_map, None) if custom is not None else None
            if news:
                found.setdefault(integration_id, []).append(news.summary())
    return found
