"""Wizard step 6: record mappings, field mappings (advanced) and relationship links.

Rally's type definitions say which types can be mapped; its attribute definitions say which
fields a create must fill, so the page can warn about required fields nothing maps.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from aharally.conflictpolicy.models import Policy, policy_of
from aharally.integrations.connection import RallyProblem
from aharally.integrations.custom_matching import suggest
from aharally.integrations.defaults import FIELD_LABELS, RELATIONSHIP_LINKS
from aharally.integrations.models import (
    DISCUSSION_FIELDS,
    Direction,
    FieldMapping,
    Integration,
    WizardStep,
)
from aharally.integrations.wizard import lookups, services, views_field_maps
from aharally.integrations.wizard import mappings as mapping_step
from aharally.integrations.wizard.common import (
    ahead_of_progress,
    audit_change,
    get_integration,
    owner_required,
    redirect_to_step,
    render_step,
)
from aharally.integrations.wizard.forms import (
    DISCUSSION_CHOICES,
    DISCUSSION_LABELS,
    DISCUSSION_RALLY,
    AddMappingForm,
    ConflictPoliciesForm,
    FieldDirectionsForm,
    RelationshipLinksForm,
    discussion_directions,
)
from aharally.workspaces.models import CustomField, RecordType


def _page(
    request: HttpRequest,
    integration: Integration,
    *,
    add_form: AddMappingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    source = integration.source
    problem = None
    available: dict[str, str] = {}
    gaps: list = []
    rally_custom: dict[int, list] = {}
    rally_every: dict[int, list] = {}
    missing: list[str] = []
    try:
        available = lookups.mappable_types(integration)
        if not integration.template_id:
            missing = mapping_step.ensure_default_mappings(
                integration=integration, available=available
            )
        gaps, rally_custom, rally_every = lookups.mapping_fields(integration)
    except RallyProblem as error:
        problem = error.message
    mappings = list(
        source.record_mappings.prefetch_related(
            Prefetch("field_mappings", FieldMapping.objects.select_related("conflict_policy_row"))
        )
    )
    mapped_types = {m.record_type for m in mappings}
    # This workspace's custom fields (a template group's copies share their keys).
    ours = list(
        CustomField.objects.filter(workspace=integration.workspace).prefetch_related("choices")
    )
    rows = []
    for mapping in mappings:
        form = FieldDirectionsForm(record_mapping=mapping, prefix=directions_prefix(mapping))
        rally_fields = rally_custom.get(mapping.pk, [])
        chosen = ConflictPoliciesForm(record_mapping=mapping, prefix=policies_prefix(mapping))
        of_type = [f for f in ours if f.record_type == mapping.record_type]
        names = {f.form_name: f.name for f in of_type}
        every = rally_every.get(mapping.pk, [])
        rows.append(
            {
                "mapping": mapping,
                "rally_custom": rally_fields,
                "custom_matches": suggest(of_type, rally_fields),
                "add": views_field_maps.add_context(mapping, of_type, every),
                "value_maps": views_field_maps.value_maps(
                    mapping, of_type, every, inherited=bool(integration.template_id)
                ),
                "fields": [
                    {
                        "mapping": fm,
                        "label": names.get(fm.field) or FIELD_LABELS.get(fm.field, fm.field),
                        "bound": form[fm.field],
                        "policy": chosen[fm.field],
                        "policy_value": policy_of(fm),
                        "policy_label": Policy(policy_of(fm)).label,
                        "two_way": fm.direction == Direction.BOTH,
                    }
                    for fm in mapping.field_mappings.all()
                    if fm.field not in DISCUSSION_FIELDS
                ],
                # The *Comments* and *Attachments* lines (no line: both ways).
                "discussion": [
                    {
                        "field": field,
                        "label": DISCUSSION_LABELS[field],
                        "rally_field": DISCUSSION_RALLY[field],
                        "bound": form[field],
                        "value": direction,
                        "display": dict(DISCUSSION_CHOICES)[direction],
                    }
                    for field, direction in discussion_directions(mapping).items()
                ],
            }
        )
    linked = {f"{link.parent_type}:{link.child_type}" for link in source.relationship_links.all()}
    links = [
        {
            "value": f"{p}:{c}",
            "label": mapping_step.link_label(p, c),
            "checked": f"{p}:{c}" in linked,
            "available": p in mapped_types and c in mapped_types,
        }
        for p, c in RELATIONSHIP_LINKS
    ]
    return render_step(
        request,
        integration,
        WizardStep.MAPPINGS,
        "integrations/wizard/mappings.html",
        {
            "problem": problem,
            "rows": rows,
            # What either side added to a value map since it was made, above the folded rows.
            "value_map_news": [
                (row["mapping"], vm["news"].summary())
                for row in rows
                for vm in row["value_maps"]
                if vm["news"]
            ],
            "links": links,
            "gaps": gaps,
            "missing_defaults": missing,
            "add_form": add_form or AddMappingForm(),
            "unmapped_types": [
                (v, label) for v, label in RecordType.choices if v not in mapped_types
            ],
            "available_types": sorted(available.items(), key=lambda item: item[1].lower()),
        },
        status=status,
    )


def _editable(request: HttpRequest, integration_id: int) -> Integration:
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's mappings.")
    return integration


def directions_prefix(record_mapping) -> str:
    """Each mapping's selects are named apart, since the whole step is one form."""
    return f"m{record_mapping.pk}"


def policies_prefix(record_mapping) -> str:
    return f"c{record_mapping.pk}"


# Sent with the step's form, so that no box ticked means "no links", not "links not shown".
LINKS_SHOWN = "links-shown"


@transaction.atomic
def _save_page(request: HttpRequest, integration: Integration) -> None:
    """Save every field direction and the relationship links the page sent; all or nothing.

    Raises WizardError (nothing saved) when a value is refused.
    """
    for record_mapping in integration.record_mappings.all():
        form = FieldDirectionsForm(
            request.POST, record_mapping=record_mapping, prefix=directions_prefix(record_mapping)
        )
        if not form.is_valid():
            raise services.WizardError("Choose a direction for each field.")
        mapping_step.save_field_directions(
            record_mapping=record_mapping,
            directions={
                name: value
                for name, value in form.cleaned_data.items()
                if form.add_prefix(name) in request.POST
            },
        )
        chosen = ConflictPoliciesForm(
            request.POST, record_mapping=record_mapping, prefix=policies_prefix(record_mapping)
        )
        if not chosen.is_valid():
            raise services.WizardError("Choose a conflict policy from the list for each field.")
        mapping_step.save_conflict_policies(
            record_mapping=record_mapping,
            policies={
                name: value
                for name, value in chosen.cleaned_data.items()
                if chosen.add_prefix(name) in request.POST
            },
        )
    if LINKS_SHOWN in request.POST:
        links = RelationshipLinksForm(request.POST)
        if not links.is_valid():
            raise services.WizardError("Choose relationship links from the list.")
        mapping_step.save_relationship_links(integration=integration, links=links.pairs())


@owner_required
def mappings(request: HttpRequest, integration_id: int) -> HttpResponse:
    """The step; "Save and continue" saves what the page shows (directions, links), then goes on."""
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.MAPPINGS)) is not None:
        return early
    if request.method == "POST":
        if not integration.source.record_mappings.exists():
            messages.error(request, "Map at least one aharally record type to a Rally type.")
            return _page(request, integration, status=400)
        if not integration.template_id:
            try:
                _save_page(request, integration)
            except services.WizardError as error:
                messages.error(request, str(error))
                return _page(request, integration, status=400)
        services.reach(integration, WizardStep.STATUSES)
        return redirect_to_step(integration, WizardStep.STATUSES)
    return _page(request, integration)


@require_POST
@owner_required
def mapping_add(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _editable(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.MAPPINGS)) is not None:
        return early
    form = AddMappingForm(request.POST)
    if form.is_valid():
        try:
            available = lookups.mappable_types(integration)
            mapping = mapping_step.add_record_mapping(
                integration=integration,
                record_type=form.cleaned_data["record_type"],
                rally_type=form.cleaned_data["rally_type"],
                available=available,
            )
        except (RallyProblem, services.WizardError) as error:
            form.add_error("rally_type", str(error))
        else:
            message = f"{mapping.get_record_type_display()} now maps to {mapping.rally_type_name}."
            messages.success(request, message)
            audit_change(request, integration, message)
            return redirect_to_step(integration, WizardStep.MAPPINGS)
    return _page(request, integration, add_form=form, status=400)


@require_POST
@owner_required
def mapping_remove(request: HttpRequest, integration_id: int, mapping_id: int) -> HttpResponse:
    integration = _editable(request, integration_id)
    try:
        removed_links = mapping_step.remove_record_mapping(
            integration=integration, mapping_id=mapping_id
        )
    except services.WizardError as error:
        messages.error(request, str(error))
    else:
        text = "Mapping removed."
        if removed_links:
            text += " Relationship links that needed it were removed too: "
            text += ", ".join(removed_links) + "."
        messages.success(request, text)
        audit_change(request, integration, text)
    return redirect_to_step(integration, WizardStep.MAPPINGS)


@require_POST
@owner_required
def mapping_fields(request: HttpRequest, integration_id: int, mapping_id: int) -> HttpResponse:
    """ "Save field mappings" of one mapping: saves the whole step's form, so nothing is lost."""
    integration = _editable(request, integration_id)
    record_mapping = integration.record_mappings.filter(pk=mapping_id).first()
    if record_mapping is None:
        raise Http404("No such mapping.")
    try:
        _save_page(request, integration)
    except services.WizardError as error:
        messages.error(request, str(error))
    else:
        message = f"Field mappings of {record_mapping.get_record_type_display()} saved."
        messages.success(request, message)
        audit_change(request, integration, message)
    return redirect_to_step(integration, WizardStep.MAPPINGS)


@require_POST
@owner_required
def relationship_links(request: HttpRequest, integration_id: int) -> HttpResponse:
    """ "Save relationship links": saves the whole step's form, so nothing is lost."""
    integration = _editable(request, integration_id)
    try:
        _save_page(request, integration)
    except services.WizardError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Relationship links saved.")
        audit_change(request, integration, "Relationship links saved.")
    return redirect_to_step(integration, WizardStep.MAPPINGS)
