"""Wizard step 7: the status mapping of each mapped record type, saved as the owner goes.

Rally's states are read on every visit (they change in Rally); choices already made are kept.
Dragging a Rally state onto a status (SortableJS) and the keyboard's select per state post to
the same view; under HTMX it answers with the one board that changed.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from aharally.integrations.connection import RallyProblem
from aharally.integrations.models import Integration, RecordMapping, WizardStep
from aharally.integrations.wizard import lookups
from aharally.integrations.wizard import services as wizard
from aharally.integrations.wizard.common import (
    ahead_of_progress,
    audit_change,
    get_integration,
    owner_required,
    redirect_to_step,
    render_step,
)
from aharally.integrations.wizard.status_maps import status_map_problems
from aharally.statusmap import services as statusmap
from aharally.statusmap.models import StatusMap

TEMPLATE = "integrations/wizard/statuses.html"


def _section(mapping: RecordMapping, status_map: StatusMap | None) -> dict:
    return {
        "mapping": mapping,
        "status_map": status_map,
        "rows": statusmap.board(status_map) if status_map else [],
        "problems": status_map_problems(mapping),
    }


def _refresh_from_rally(integration: Integration) -> str | None:
    """Bring every status map up to Rally's states; a problem message, or None."""
    try:
        lookups.refresh_status_maps(integration)
    except RallyProblem as error:
        return error.message
    return None


@owner_required
def statuses(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.STATUSES)) is not None:
        return early
    source = integration.source
    problem = None
    if request.method == "POST":
        incomplete = [
            f"{m.get_record_type_display()}: {p}"
            for m in source.record_mappings.all()
            for p in status_map_problems(m)
        ]
        if not incomplete:
            wizard.reach(integration, WizardStep.ENABLE)
            return redirect_to_step(integration, WizardStep.ENABLE)
        messages.error(request, " ".join(incomplete))
    elif not integration.template_id:
        problem = _refresh_from_rally(integration)
    sections = [
        _section(mapping, StatusMap.objects.filter(record_mapping=mapping).first())
        for mapping in source.record_mappings.all()
    ]
    return render_step(
        request,
        integration,
        WizardStep.STATUSES,
        TEMPLATE,
        {"sections": sections, "problem": problem},
        status=400 if request.method == "POST" else 200,
    )


def _status_map(request: HttpRequest, integration_id: int, mapping_id: int):
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's status mapping.")
    status_map = (
        StatusMap.objects.filter(
            record_mapping__integration=integration, record_mapping_id=mapping_id
        )
        .select_related("record_mapping")
        .first()
    )
    if status_map is None:
        raise Http404("No such status mapping.")
    return integration, status_map


def _answer(request: HttpRequest, integration: Integration, status_map: StatusMap, error=None):
    if error:
        messages.error(request, error)
    if request.htmx:
        context = {
            "integration": integration,
            "section": _section(status_map.record_mapping, status_map),
            "error": error,
        }
        # The message travels in the partial itself; don't show it again on the next page.
        list(messages.get_messages(request))
        return render(request, TEMPLATE + "#board", context, status=400 if error else 200)
    return redirect_to_step(integration, WizardStep.STATUSES)


@require_POST
@owner_required
def assign(request: HttpRequest, integration_id: int, mapping_id: int) -> HttpResponse:
    """A Rally state dropped on (or selected for) a status."""
    integration, status_map = _status_map(request, integration_id, mapping_id)
    try:
        statusmap.assign_state(
            status_map=status_map,
            rally_state=request.POST.get("rally_state", ""),
            status_id=request.POST.get("status", ""),
        )
    except statusmap.StatusMapError as error:
        return _answer(request, integration, status_map, str(error))
    audit_change(
        request,
        integration,
        f"Status mapping: {request.POST.get('rally_state', '')} assigned to a status.",
    )
    return _answer(request, integration, status_map)


@require_POST
@owner_required
def sends(request: HttpRequest, integration_id: int, mapping_id: int) -> HttpResponse:
    """Which Rally state a status sends."""
    integration, status_map = _status_map(request, integration_id, mapping_id)
    try:
        statusmap.set_sent_state(
            status_map=status_map,
            status_id=request.POST.get("status", ""),
            rally_state=request.POST.get("rally_state", ""),
        )
    except statusmap.StatusMapError as error:
        return _answer(request, integration, status_map, str(error))
    audit_change(request, integration, "Status mapping: the state a status sends changed.")
    return _answer(request, integration, status_map)
