"""What every wizard view shares: fetching the integration, the progress bar, rendering."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from aharally.integrations.models import Integration, WizardStep
from aharally.integrations.wizard.services import INHERITED_STEPS, STEPS, step_index
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability

owner_required = require_capability(Capability.CONFIGURE)

# What a step template extends: the whole settings page, or (HTMX) the #wizard frame alone.
FULL_PAGE = "workspaces/settings/base.html"
FRAME_ONLY = "integrations/wizard/bare.html"

STEP_URL_NAMES = {step: f"integrations:wizard_{step}" for step in STEPS}


def get_integration(request: HttpRequest, integration_id: int) -> Integration:
    """An integration of the request's workspace, or 404."""
    try:
        return Integration.objects.select_related("template", "workspace").get(
            pk=integration_id, workspace=request.workspace
        )
    except Integration.DoesNotExist:
        raise Http404("No such integration.") from None


def step_url(integration: Integration, step: str) -> str:
    return reverse(
        STEP_URL_NAMES[step],
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


def redirect_to_step(integration: Integration, step: str) -> HttpResponse:
    return redirect(step_url(integration, step))


def leave_wizard(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect out of the wizard; under HTMX the browser is told to load `url` whole.

    A boosted request would follow a plain redirect by XHR and swap the page into #wizard
    (or fail on another site's page, such as Rally's sign-in).
    """
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def ahead_of_progress(integration: Integration, step: str) -> HttpResponse | None:
    """A redirect to the furthest step reached when `step` is beyond it (no skipping)."""
    if step_index(step) > step_index(integration.wizard_step):
        return redirect_to_step(integration, integration.wizard_step)
    return None


def progress(integration: Integration, current: str) -> list[dict]:
    reached = step_index(integration.wizard_step)
    items = []
    for index, step in enumerate(STEPS):
        items.append(
            {
                "step": step,
                "number": index + 1,
                "label": WizardStep(step).label,
                "url": step_url(integration, step) if index <= reached else None,
                "current": step == current,
                "done": index < reached and step != current,
                "inherited": bool(integration.template_id) and step in INHERITED_STEPS,
            }
        )
    return items


def neighbours(integration: Integration, current: str) -> tuple[str | None, str | None]:
    index = step_index(current)
    previous = step_url(integration, STEPS[index - 1]) if index > 0 else None
    following = STEPS[index + 1] if index + 1 < len(STEPS) else None
    next_url = (
        step_url(integration, following)
        if following and step_index(following) <= step_index(integration.wizard_step)
        else None
    )
    return previous, next_url


def render_step(
    request: HttpRequest,
    integration: Integration | None,
    step: str,
    template: str,
    context: dict | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    context = dict(context or {})
    if integration is not None:
        back_url, next_url = neighbours(integration, step)
        context.update(
            integration=integration,
            source=integration.source,
            progress=progress(integration, step),
            back_url=back_url,
            next_url=next_url,
            inherited=bool(integration.template_id) and step in INHERITED_STEPS,
        )
    else:
        context["progress"] = [
            {
                "step": s,
                "number": i + 1,
                "label": WizardStep(s).label,
                "url": None,
                "current": s == step,
                "done": False,
                "inherited": False,
            }
            for i, s in enumerate(STEPS)
        ]
    # Boosted links and forms swap #wizard; a history restore (cache miss) needs the page.
    frame_only = bool(request.htmx) and not request.htmx.history_restore_request
    context.update(
        step=step,
        step_label=WizardStep(step).label,
        tab="integrations",
        wizard_page=FRAME_ONLY if frame_only else FULL_PAGE,
    )
    response = render(request, template, context, status=status)
    # One URL, two answers: caches must not hand the frame to a full navigation.
    patch_vary_headers(response, ("HX-Request",))
    return response


def audit_change(request, integration: Integration, what: str) -> None:
    """An owner changed an integration's configuration: a template edit when it is a template."""
    from aharally.workspaces.audit import record_audit
    from aharally.workspaces.models import AuditAction

    record_audit(
        workspace=integration.workspace,
        actor=request.user,
        action=AuditAction.TEMPLATE if integration.is_template else AuditAction.CONFIGURATION,
        target=f"{'Template' if integration.is_template else 'Integration'} “{integration.name}”",
        detail=what,
    )
