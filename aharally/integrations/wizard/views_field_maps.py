"""The mapping step's field mappings the owner adds (any aharally field to a compatible Rally
field) and their value maps (a choice field's choices to Rally's allowed values).

Both are HTMX forms that also work as plain POST + redirect: a refused input comes back in
the form's own fragment (400), with its message on the page.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from aharally.integrations import value_map_news
from aharally.integrations.connection import RallyProblem
from aharally.integrations.custom_matching import own_value_map
from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.models import Direction, FieldMapping, Integration, RecordMapping
from aharally.integrations.wizard import field_maps, lookups
from aharally.integrations.wizard.common import (
    audit_change,
    get_integration,
    owner_required,
)
from aharally.integrations.wizard.services import WizardError
from aharally.workspaces.models import CHOICE_KINDS, CustomField

ADD_TEMPLATE = "integrations/wizard/partials/field_add.html"
VALUE_MAP_TEMPLATE = "integrations/wizard/partials/value_map.html"


def add_context(record_mapping: RecordMapping, fields: list[CustomField], rally_fields) -> dict:
    """What the "Map another field" form offers."""
    return {
        "fields": field_maps.field_choices(record_mapping, fields),
        "rally_fields": rally_fields,
        "directions": Direction.choices,
    }


def value_maps(
    record_mapping, fields: list[CustomField], rally_fields, *, inherited: bool = False
) -> list[dict]:
    """A value map board for each mapped choice field of the record mapping (pairs of equal
    names Rally or the field added since are matched first, unless the map is inherited)."""
    by_name = {f.form_name: f for f in fields}
    attributes = {a.element_name: a for a in rally_fields}
    boards = []
    for fm in record_mapping.field_mappings.all():
        field = by_name.get(fm.field)
        if field is None or field.kind not in CHOICE_KINDS:
            continue
        attribute = attributes.get(fm.rally_field)
        allowed = list(attribute.allowed_values or ()) if attribute else []
        matched = []
        if allowed and not inherited:
            # A value Rally added of the same name as a choice left unmapped (or a new
            # choice): matched now, and said on the board.
            matched = value_map_news.match_by_name(fm, field, allowed)
        boards.append(board(fm, field, allowed, matched=matched))
    return boards


def board(
    fm: FieldMapping, field: CustomField, allowed: list[str], error: str = "", matched=()
) -> dict:
    mapped = own_value_map(field, fm.value_map)
    news = value_map_news.news_of(field, fm.value_map, allowed if allowed else None)
    return {
        "fm": fm,
        "field": field,
        "allowed": allowed,
        "columns": field_maps.value_rows(field, mapped, allowed),
        "pairs": [(choice, mapped.get(choice.pk, "")) for choice in field.choices.all()],
        "error": error,
        "news": news,
        "new_choice_ids": {c.pk for c in news.new_choices},
        "new_values": set(news.new_values),
        "matched": list(matched),
    }


def _record_mapping(request: HttpRequest, integration_id: int, mapping_id: int):
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's mappings.")
    record_mapping = integration.record_mappings.filter(pk=mapping_id).first()
    if record_mapping is None:
        raise Http404("No such mapping.")
    return integration, record_mapping


def _step_url(integration: Integration, record_mapping: RecordMapping) -> str:
    url = reverse(
        "integrations:wizard_mappings",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )
    return f"{url}#mapping-{record_mapping.record_type}"


def _back(request: HttpRequest, integration, record_mapping) -> HttpResponse:
    if request.htmx:
        # The page the form is on, again (a redirect to it would only move to its anchor).
        return HttpResponseClientRefresh()
    return redirect(_step_url(integration, record_mapping))


@require_POST
@owner_required
def field_add(request: HttpRequest, integration_id: int, mapping_id: int) -> HttpResponse:
    """Map an aharally field (built-in or custom) to a Rally field of the mapping's type."""
    integration, record_mapping = _record_mapping(request, integration_id, mapping_id)
    posted = {name: request.POST.get(name, "") for name in ("field", "rally_field", "direction")}
    rally_fields = []
    try:
        rally_fields = lookups.type_attributes(integration, record_mapping)
        mapping = field_maps.add_field_mapping(
            record_mapping=record_mapping, attributes=rally_fields, **posted
        )
    except (RallyProblem, WizardError) as error:
        message = getattr(error, "message", str(error))
        if not request.htmx:
            messages.error(request, message)
            return _back(request, integration, record_mapping)
        fields = field_maps.custom_fields(record_mapping)
        context = {
            "integration": integration,
            "row": {
                "mapping": record_mapping,
                "add": add_context(record_mapping, fields, rally_fields),
            },
            "posted": posted,
            "add_error": message,
        }
        return render(request, ADD_TEMPLATE, context, status=400)
    text = (
        f"{record_mapping.get_record_type_display()}: {_label(record_mapping, mapping.field)} "
        f"now maps to Rally's {mapping.rally_field}."
    )
    messages.success(request, text)
    audit_change(request, integration, text)
    return _back(request, integration, record_mapping)


def _label(record_mapping, field: str) -> str:
    if field.startswith(field_maps.PREFIX):
        custom = next(
            (f for f in field_maps.custom_fields(record_mapping) if f.form_name == field), None
        )
        return custom.name if custom else field
    return FIELD_LABELS.get(field, field)


def _change_value_map(
    request: HttpRequest, integration_id: int, mapping_id: int, field_mapping_id: int, *, change
) -> HttpResponse:
    """What both value-map views do around their `change(fm, field, allowed)`: find the
    mapping and Rally's allowed values, change, audit (the change returns what to say), and
    answer with the board (HTMX) or the step."""
    integration, record_mapping = _record_mapping(request, integration_id, mapping_id)
    fm = record_mapping.field_mappings.filter(pk=field_mapping_id).first()
    field = field_maps.custom_field_of(fm) if fm is not None else None
    if field is None:
        raise Http404("No such field mapping.")
    allowed: list[str] = []
    error = ""
    try:
        attribute = next(
            (
                a
                for a in lookups.type_attributes(integration, record_mapping)
                if a.element_name == fm.rally_field
            ),
            None,
        )
        allowed = list(attribute.allowed_values or ()) if attribute else []
        said = change(fm, field, allowed)
    except (RallyProblem, WizardError) as problem:
        error = getattr(problem, "message", str(problem))
    else:
        audit_change(request, integration, f"Value map of {field.name}: {said}")
    if not request.htmx:
        if error:
            messages.error(request, error)
        return _back(request, integration, record_mapping)
    fm.refresh_from_db()
    context = {
        "integration": integration,
        "vm": board(fm, field, allowed, error),
        "row": {"mapping": record_mapping},
    }
    return render(request, VALUE_MAP_TEMPLATE, context, status=400 if error else 200)


@require_POST
@owner_required
def value_set(
    request: HttpRequest, integration_id: int, mapping_id: int, field_mapping_id: int
) -> HttpResponse:
    """One choice mapped to one of Rally's allowed values (dropped there, or selected)."""

    def change(fm, field, allowed) -> str:
        field_maps.set_value(
            field_mapping=fm,
            choice_id=request.POST.get("choice", ""),
            value=request.POST.get("value", ""),
            allowed=allowed,
        )
        return "a choice now sends another value."

    return _change_value_map(request, integration_id, mapping_id, field_mapping_id, change=change)


@require_POST
@owner_required
def value_news(
    request: HttpRequest, integration_id: int, mapping_id: int, field_mapping_id: int
) -> HttpResponse:
    """The owner leaves what is new in a value map unmapped ("keep"), having seen it."""

    def change(fm, field, allowed) -> str:
        if not allowed:
            raise WizardError(f"Rally reports no allowed values for {fm.rally_field}.")
        value_map_news.acknowledge(fm, field, allowed)
        return "the new values stay unmapped."

    return _change_value_map(request, integration_id, mapping_id, field_mapping_id, change=change)
