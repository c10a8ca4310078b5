"""Wizard steps 4-5: choose the Rally workspace, then the project (and Exclude child updates).

Both lists are read from Rally while the owner waits (DESIGN.md allows exactly these
look-ups in a web request), through `lookups` with short timeouts.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from aharally.integrations.connection import RallyProblem
from aharally.integrations.models import WizardStep
from aharally.integrations.wizard import lookups, services
from aharally.integrations.wizard.common import (
    ahead_of_progress,
    get_integration,
    owner_required,
    redirect_to_step,
    render_step,
)
from aharally.integrations.wizard.forms import ProjectForm, WorkspaceForm


@owner_required
def workspace(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.WORKSPACE)) is not None:
        return early
    template = "integrations/wizard/workspace.html"
    if integration.template_id:
        if request.method == "POST":
            return redirect_to_step(integration, WizardStep.PROJECT)
        return render_step(request, integration, WizardStep.WORKSPACE, template)
    problem = None
    workspaces = []
    try:
        workspaces = lookups.workspaces(integration)
    except RallyProblem as error:
        problem = error.message
    if not problem and not workspaces:
        problem = (
            f"Your Rally user ({integration.rally_user_name}) cannot see any open workspace. "
            "Ask a Rally administrator for access to a workspace, or authorize as another user."
        )
    initial = {"workspace": integration.rally_workspace_oid}
    form = WorkspaceForm(request.POST or None, workspaces=workspaces, initial=initial)
    if request.method == "POST" and not problem and form.is_valid():
        oid = form.cleaned_data["workspace"]
        services.choose_workspace(integration=integration, oid=oid, name=form.names[oid])
        return redirect_to_step(integration, WizardStep.PROJECT)
    return render_step(
        request,
        integration,
        WizardStep.WORKSPACE,
        template,
        {"form": form, "problem": problem},
        status=400 if (problem or form.errors) and request.method == "POST" else 200,
    )


@owner_required
def project(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.PROJECT)) is not None:
        return early
    problem = None
    tree = []
    try:
        tree = lookups.project_tree(integration)
    except RallyProblem as error:
        problem = error.message
    if not problem and not tree:
        problem = (
            f"There is no open project in {integration.rally_workspace_name} that your Rally "
            "user can see. Choose another workspace, or ask for access in Rally."
        )
    initial = {
        "project": integration.rally_project_oid,
        "exclude_child_updates": integration.exclude_child_updates,
    }
    overlaps = services.project_overlaps(integration, tree) if tree else {}
    form = ProjectForm(request.POST or None, projects=tree, initial=initial, overlaps=overlaps)
    if request.method == "POST" and not problem and form.is_valid():
        oid = form.cleaned_data["project"]
        services.choose_project(
            integration=integration,
            oid=oid,
            name=form.names[oid],
            exclude_child_updates=form.cleaned_data["exclude_child_updates"],
        )
        following = WizardStep.ENABLE if integration.template_id else WizardStep.MAPPINGS
        return redirect_to_step(integration, following)
    return render_step(
        request,
        integration,
        WizardStep.PROJECT,
        "integrations/wizard/project.html",
        {"form": form, "problem": problem, "overlaps": overlaps},
        status=400 if (problem or form.errors) and request.method == "POST" else 200,
    )
