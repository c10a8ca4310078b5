"""The sandbox's small web UI: play "the development team in Rally" during a demo.

Every change goes through the WSAPI write services, so it is validated as a WSAPI write would
be and webhooks hear about it.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rally_sandbox.accounts.models import Project, Workspace
from rally_sandbox.oauth.sessions import signed_in_user
from rally_sandbox.wsapi.models import Artifact, Release
from rally_sandbox.wsapi.registry import PORTFOLIO_PATHS, SPECS
from rally_sandbox.wsapi.services import WriteError, delete_object, save_object

from .forms import ArtifactForm, ChildForm, NewItemForm

# Lists stop here: the UI is for demos, bulk data belongs to the WSAPI.
SHOWN = 200


def login_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = signed_in_user(request)
        if user is None:
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('sandbox_oauth:login')}?{query}")
        request.sandbox_user = user
        return view(request, *args, **kwargs)

    return wrapper


def _artifact(request: HttpRequest, oid: int) -> Artifact:
    artifact = (
        Artifact.objects.select_related(
            "project",
            "workspace",
            "parent",
            "portfolio_item",
            "pi_state",
            "release",
            "work_product",
        )
        .filter(pk=oid, workspace__subscription_id=request.sandbox_user.subscription_id)
        .first()
    )
    if artifact is None:
        raise Http404("No such work item")
    return artifact


def _project(request: HttpRequest, oid: int) -> Project:
    project = (
        Project.objects.select_related("workspace")
        .filter(pk=oid, workspace__subscription_id=request.sandbox_user.subscription_id)
        .first()
    )
    if project is None:
        raise Http404("No such project")
    return project


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    workspaces = Workspace.objects.filter(
        subscription_id=request.sandbox_user.subscription_id
    ).prefetch_related("projects")
    tree = []
    for workspace in workspaces:
        children: dict = {}
        for project in workspace.projects.all():
            children.setdefault(project.parent_id, []).append(project)
        tree.append((workspace, list(_walk(children, None, 0))))
    return render(request, "ui/home.html", {"tree": tree, "user": request.sandbox_user})


def _walk(children: dict, parent_id, depth: int):
    """Projects depth first, each with its depth, for an indented tree."""
    for project in sorted(children.get(parent_id, []), key=lambda p: p.name):
        yield project, depth
        yield from _walk(children, project.pk, depth + 1)


@require_GET
@login_required
def project(request: HttpRequest, oid: int) -> HttpResponse:
    project = _project(request, oid)
    items = (
        Artifact.objects.filter(project=project)
        .exclude(type_path="Task")
        .select_related("pi_state", "release", "parent", "portfolio_item", "owner")
        .order_by("type_path", "formatted_number")
    )
    portfolio = list(items.filter(type_path__in=PORTFOLIO_PATHS)[:SHOWN])
    portfolio.sort(key=lambda a: (-PORTFOLIO_PATHS.index(a.type_path), a.formatted_number))
    stories = items.filter(type_path="HierarchicalRequirement")
    context = {
        "project": project,
        "portfolio": portfolio,
        "stories": stories[:SHOWN],
        "story_count": stories.count(),
        "shown": SHOWN,
        "defects": items.filter(type_path="Defect")[:SHOWN],
        "new_form": NewItemForm(),
        "user": request.sandbox_user,
    }
    return render(request, "ui/project.html", context)


@require_POST
@login_required
def create_item(request: HttpRequest, oid: int) -> HttpResponse:
    project = _project(request, oid)
    form = NewItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a type and give the item a name.")
        return HttpResponseRedirect(reverse("sandbox_ui:project", args=[project.pk]))
    type_path = form.cleaned_data["kind"]
    fields = {"Name": form.cleaned_data["name"], "Project": f"/project/{project.pk}"}
    try:
        outcome = save_object(
            spec=SPECS[type_path],
            user=request.sandbox_user,
            workspace=project.workspace,
            fields=fields,
        )
    except WriteError as error:
        for text in error.errors:
            messages.error(request, text)
        return HttpResponseRedirect(reverse("sandbox_ui:project", args=[project.pk]))
    messages.success(request, f"Created {outcome.obj.formatted_id}.")
    return HttpResponseRedirect(reverse("sandbox_ui:item", args=[outcome.obj.pk]))


@require_http_methods(["GET", "POST"])
@login_required
def item(request: HttpRequest, oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    form = ArtifactForm(request.POST or None, artifact=artifact)
    if request.method == "POST" and form.is_valid():
        try:
            save_object(
                spec=SPECS[artifact.type_path],
                user=request.sandbox_user,
                workspace=artifact.workspace,
                fields=form.wsapi_fields(),
                obj=artifact,
            )
        except WriteError as error:
            # The refused values were applied to the instance before validation: reload it.
            artifact = _artifact(request, oid)
            form = ArtifactForm(request.POST, artifact=artifact)
            form.is_valid()
            for text in error.errors:
                form.add_error(None, text)
        else:
            messages.success(request, f"Saved {artifact.formatted_id}.")
            return HttpResponseRedirect(reverse("sandbox_ui:item", args=[artifact.pk]))
    children = Artifact.objects.filter(workspace=artifact.workspace).select_related("pi_state")
    if artifact.type_path == PORTFOLIO_PATHS[0]:
        children = children.filter(portfolio_item=artifact)
    elif artifact.type_path == "Task":
        children = children.none()
    else:
        children = children.filter(parent=artifact) | children.filter(work_product=artifact)
    context = {
        "artifact": artifact,
        "form": form,
        # Rally lists children in rank order (its "Rank" column), as a team sees its backlog.
        "children": children.order_by("type_path", "rank", "formatted_number"),
        "child_form": ChildForm(),
        "can_add_children": artifact.type_path
        in {PORTFOLIO_PATHS[0], "HierarchicalRequirement", "Defect"},
        "user": request.sandbox_user,
    }
    from .discussion import context_for  # below this module: it uses _artifact

    context.update(context_for(artifact))
    return render(request, "ui/item.html", context, status=400 if form.errors else 200)


@require_POST
@login_required
def add_child(request: HttpRequest, oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    form = ChildForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the new item a name.")
        return HttpResponseRedirect(reverse("sandbox_ui:item", args=[artifact.pk]))
    ref = f"/{SPECS[artifact.type_path].ref_segment}/{artifact.pk}"
    fields = {"Name": form.cleaned_data["name"], "Project": f"/project/{artifact.project_id}"}
    if form.cleaned_data["kind"] == "task":
        type_path, fields["WorkProduct"] = "Task", ref
    elif artifact.type_path == PORTFOLIO_PATHS[0]:
        type_path, fields["PortfolioItem"] = "HierarchicalRequirement", ref
    else:
        type_path, fields["Parent"] = "HierarchicalRequirement", ref
    try:
        outcome = save_object(
            spec=SPECS[type_path],
            user=request.sandbox_user,
            workspace=artifact.workspace,
            fields=fields,
        )
    except WriteError as error:
        for text in error.errors:
            messages.error(request, text)
    else:
        messages.success(request, f"Added {outcome.obj.formatted_id}.")
    return HttpResponseRedirect(reverse("sandbox_ui:item", args=[artifact.pk]))


@require_POST
@login_required
def delete(request: HttpRequest, oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    project_id, formatted_id = artifact.project_id, artifact.formatted_id
    try:
        delete_object(spec=SPECS[artifact.type_path], obj=artifact, user=request.sandbox_user)
    except WriteError as error:
        for text in error.errors:
            messages.error(request, text)
        return HttpResponseRedirect(reverse("sandbox_ui:item", args=[artifact.pk]))
    messages.success(request, f"Deleted {formatted_id}.")
    return HttpResponseRedirect(reverse("sandbox_ui:project", args=[project_id]))


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page, the sign-in page too: not a 404 each time."""
    return HttpResponseRedirect(static("ui/favicon.svg"))


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    """`/`: Rally's detail links (`/#/detail/<type>/<oid>`) land here; a script reads the hash."""
    response = render(request, "ui/root.html")
    # The page runs only its own script file: no inline script or style is needed.
    response["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return response


@require_GET
@login_required
def release(request: HttpRequest, oid: int) -> HttpResponse:
    found = (
        Release.objects.select_related("project")
        .filter(pk=oid, workspace__subscription_id=request.sandbox_user.subscription_id)
        .first()
    )
    if found is None:
        raise Http404("No such release")
    items = (
        Artifact.objects.filter(release=found)
        .select_related("pi_state", "release", "parent", "portfolio_item")
        .order_by("type_path", "formatted_number")[:SHOWN]
    )
    return render(
        request,
        "ui/release.html",
        {"release": found, "items": items, "user": request.sandbox_user},
    )
