"""Wizard step 8: how changes travel (outgoing and incoming modes), Test connection, Enable."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from aharally.integrations import lifecycle
from aharally.integrations.models import (
    IncomingMode,
    Integration,
    IntegrationState,
    OutgoingMode,
    WizardStep,
)
from aharally.integrations.wizard import services
from aharally.integrations.wizard.common import (
    ahead_of_progress,
    get_integration,
    leave_wizard,
    owner_required,
    redirect_to_step,
    render_step,
)
from aharally.integrations.wizard.forms import EnableForm

TEMPLATE = "integrations/wizard/enable.html"


def _after_enabling(request: HttpRequest, integration: Integration) -> HttpResponse:
    """The Manage integrations report when it exists, else this step again.

    The report is not a wizard page: under HTMX the browser is told to load it whole.
    """
    try:
        url = reverse("integrations:manage", kwargs={"prefix": integration.workspace.prefix})
    except NoReverseMatch:
        return redirect_to_step(integration, WizardStep.ENABLE)
    return leave_wizard(request, url)


def _modes(integration) -> str:
    """ "sends outgoing changes once a reviewer approves them and imports new records at once" """
    source = Integration.objects.get(pk=integration.source.pk)  # as just saved
    sends = (
        "sends outgoing changes once a reviewer approves them"
        if source.outgoing_mode == OutgoingMode.APPROVE
        else "sends outgoing changes at once"
    )
    imports = (
        "imports new records once a reviewer approves them"
        if source.incoming_mode == IncomingMode.APPROVE
        else "imports new records at once"
    )
    return f"{sends}, and {imports}"


@owner_required
def enable(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.ENABLE)) is not None:
        return early
    source = integration.source
    initial = {"outgoing_mode": source.outgoing_mode, "incoming_mode": source.incoming_mode}
    data = request.POST if request.method == "POST" else None
    if data is not None and integration.template_id:
        data = initial  # a derived integration follows its template's modes
    form = EnableForm(data, initial=initial)
    error = None
    if request.method == "POST" and form.is_valid():
        was_enabled = integration.state == IntegrationState.ENABLED
        try:
            services.finish(
                integration=integration,
                outgoing_mode=form.cleaned_data["outgoing_mode"],
                incoming_mode=form.cleaned_data["incoming_mode"],
                user=request.user,
            )
        except services.WizardError as problem:
            error = str(problem)
        else:
            if was_enabled:  # the owner came back to change the modes
                messages.success(request, f"Saved: “{integration.name}” {_modes(integration)}.")
            else:
                messages.success(request, f"The integration “{integration.name}” is enabled.")
            return _after_enabling(request, integration)
    return render_step(
        request,
        integration,
        WizardStep.ENABLE,
        TEMPLATE,
        {
            "form": form,
            "error": error,
            "missing": services.missing_configuration(integration),
            "enabled": integration.state == IntegrationState.ENABLED,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@owner_required
def test_connection(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.ENABLE)) is not None:
        return early
    try:
        result, ok = lifecycle.check_connection(integration=integration), True
    except lifecycle.LifecycleError as problem:
        result, ok = problem.message, False
    if request.htmx:
        return render(
            request, TEMPLATE + "#connection", {"connection_result": result, "connection_ok": ok}
        )
    (messages.success if ok else messages.error)(request, result)
    return redirect_to_step(integration, WizardStep.ENABLE)
