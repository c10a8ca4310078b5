"""{% custom_facts record as facts %}: a record's custom fields as (name, value) to read."""

from __future__ import annotations

from django import template

from aharally.records import custom

register = template.Library()


@register.simple_tag
def custom_facts(record) -> list[tuple[str, str]]:
    definitions = custom.definitions(record.workspace_id, record.record_type)
    values = custom.read_values(record.pk, definitions)
    return [(d.name, custom.display(d, values[d.form_name])) for d in definitions]
