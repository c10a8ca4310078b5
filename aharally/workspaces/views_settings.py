"""Settings → Workspace, for owners: general, members and invitations, workflows
(custom layouts are in views_layouts.py).

Every form is a plain POST that redirects (or re-renders the page with its errors). Sent by
HTMX, the same views answer with the section's named partial instead (members.html#members
or #invitations, workflows.html#workflow), 400 when the input is bad,
with the flash messages swapped out of band into #messages.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from aharally.workspaces import configuration, members
from aharally.workspaces.access import require_capability
from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.forms import (
    DeleteStatusForm,
    InvitationForm,
    RoleForm,
    StatusForm,
    WorkspaceGeneralForm,
)
from aharally.workspaces.models import (
    Capability,
    Invitation,
    Membership,
    RecordType,
    Role,
    WorkflowStatus,
)

CONFIGURE = Capability.CONFIGURE
MEMBERS = "workspaces/settings/members.html"
WORKFLOWS = "workspaces/settings/workflows.html"


def _record_type(value: str) -> str:
    if value not in RecordType.values:
        raise Http404("No such record type.")
    return value


def _partial(request, template_name: str, context: dict, *, status: int = 200) -> HttpResponse:
    """A named partial ("page.html#name") for HTMX, the flash messages swapped out of band."""
    # Shown now, so consumed: they must not come back on the next page.
    flashes = list(messages.get_messages(request))
    html = render_to_string(template_name, context, request) + render_to_string(
        "partials/messages.html", {"messages": flashes, "oob": True}, request
    )
    return HttpResponse(html, status=status)


def _saved(request, section: Callable[[], HttpResponse], url: str) -> HttpResponse:
    """After a change: HTMX gets the section back in place; a plain POST is redirected."""
    return section() if request.htmx else redirect(url)


@require_capability(CONFIGURE)
def general(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    locked = configuration.prefix_is_locked(workspace)
    initial = {"name": workspace.name, "prefix": workspace.prefix}
    form = WorkspaceGeneralForm(
        request.POST if request.method == "POST" else None, initial=initial, prefix_locked=locked
    )
    if request.method == "POST" and form.is_valid():
        try:
            workspace = configuration.update_workspace(
                workspace=workspace,
                name=form.cleaned_data["name"],
                prefix=form.cleaned_data["prefix"],
            )
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Saved the workspace settings.")
            return redirect("workspaces:settings_general", prefix=workspace.prefix)
    return render(
        request,
        "workspaces/settings/general.html",
        {"form": form, "prefix_locked": locked, "tab": "general"},
        status=400 if form.errors else 200,
    )


def _members(request, *, invite_form=None, role_errors=None) -> dict:
    """The members tab's context; `role_errors` maps a membership id to its error."""
    workspace = request.workspace
    memberships = (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    )
    invitations = (
        Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True)
        .select_related("invited_by")
        .order_by("email")
    )
    return {
        "memberships": memberships,
        "invitations": invitations,
        "invite_form": invite_form or InvitationForm(),
        "role_errors": role_errors or {},
        "roles": Role.choices,
        "tab": "members",
    }


def _members_page(request, *, section="members", status=200, **context) -> HttpResponse:
    """The members tab, or for HTMX its `section` partial (members or invitations)."""
    if request.htmx:
        return _partial(
            request, f"{MEMBERS}#{section}", _members(request, **context), status=status
        )
    return render(request, MEMBERS, _members(request, **context), status=status)


def _members_url(request) -> str:
    return reverse("workspaces:settings_members", kwargs={"prefix": request.workspace.prefix})


@require_capability(CONFIGURE)
def members_page(request: HttpRequest) -> HttpResponse:
    return render(request, MEMBERS, _members(request))


@require_POST
@require_capability(CONFIGURE)
def change_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, workspace=request.workspace)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, role_errors={membership.pk: "Choose a role."}, status=400)
    try:
        members.change_role(membership=membership, role=form.cleaned_data["role"])
    except WorkspaceError as error:
        return _members_page(request, role_errors={membership.pk: str(error)}, status=400)
    messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    if membership.user_id == request.user.pk and membership.role != Role.OWNER:
        # An owner who stepped down can no longer see the settings: off to the board.
        board = reverse("records:board", kwargs={"prefix": request.workspace.prefix})
        return HttpResponseClientRedirect(board) if request.htmx else redirect(board)
    return _saved(request, lambda: _members_page(request), _members_url(request))


@require_POST
@require_capability(CONFIGURE)
def remove_member(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, workspace=request.workspace)
    try:
        members.remove_member(membership=membership)
    except WorkspaceError as error:
        return _members_page(request, role_errors={membership.pk: str(error)}, status=400)
    messages.success(request, f"Removed {membership.user.email} from the workspace.")
    if membership.user_id == request.user.pk:
        home = reverse("home")
        return HttpResponseClientRedirect(home) if request.htmx else redirect(home)
    return _saved(request, lambda: _members_page(request), _members_url(request))


@require_POST
@require_capability(CONFIGURE)
def invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = members.invite_member(
                workspace=request.workspace,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except WorkspaceError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"Sent an invitation to {invitation.email}.")
            return _saved(
                request,
                lambda: _members_page(request, section="invitations"),
                _members_url(request),
            )
    return _members_page(request, section="invitations", invite_form=form, status=400)


@require_POST
@require_capability(CONFIGURE)
def cancel_invitation(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(
        Invitation, pk=invitation_id, workspace=request.workspace, accepted_at__isnull=True
    )
    members.cancel_invitation(invitation=invitation)
    messages.success(request, f"Cancelled the invitation to {invitation.email}.")
    return _saved(
        request, lambda: _members_page(request, section="invitations"), _members_url(request)
    )


def _workflows(request, record_types: list[str], bound: dict | None = None) -> list[dict]:
    """The workflows of `record_types`; `bound` maps a form prefix to a submitted form."""
    bound = bound or {}
    statuses = WorkflowStatus.objects.filter(
        workspace=request.workspace, record_type__in=record_types
    ).order_by("record_type", "position", "id")
    by_type: dict[str, list] = {t: [] for t in record_types}
    for item in statuses:
        key = f"status-{item.pk}"
        form = bound.get(key) or StatusForm(
            initial={"name": item.name, "category": item.category, "color": item.color},
            prefix=key,
        )
        by_type[item.record_type].append((item, form))
    return [
        {
            "type": record_type,
            "label": RecordType(record_type).label,
            "rows": by_type[record_type],
            "add_form": bound.get(f"add-{record_type}")
            or StatusForm(prefix=f"add-{record_type}", initial={"color": "#9aa5b1"}),
        }
        for record_type in record_types
    ]


def _workflows_page(request, record_type: str, *, bound=None, status=200) -> HttpResponse:
    """The workflows tab, or for HTMX the workflow of `record_type` alone."""
    if request.htmx:
        (workflow,) = _workflows(request, [record_type], bound)
        return _partial(request, f"{WORKFLOWS}#workflow", {"workflow": workflow}, status=status)
    context = {"workflows": _workflows(request, RecordType.values, bound), "tab": "workflows"}
    return render(request, WORKFLOWS, context, status=status)


def _workflows_url(request, record_type: str) -> str:
    url = reverse("workspaces:settings_workflows", kwargs={"prefix": request.workspace.prefix})
    return f"{url}#workflow-{record_type}"


@require_capability(CONFIGURE)
def workflows(request: HttpRequest) -> HttpResponse:
    context = {"workflows": _workflows(request, RecordType.values), "tab": "workflows"}
    return render(request, WORKFLOWS, context)


@require_POST
@require_capability(CONFIGURE)
def add_status(request: HttpRequest, record_type: str) -> HttpResponse:
    record_type = _record_type(record_type)
    key = f"add-{record_type}"
    form = StatusForm(request.POST, prefix=key)
    if form.is_valid():
        try:
            added = configuration.add_status(
                workspace=request.workspace, record_type=record_type, **form.cleaned_data
            )
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Added the status {added.name}.")
            return _saved(
                request,
                lambda: _workflows_page(request, record_type),
                _workflows_url(request, record_type),
            )
    return _workflows_page(request, record_type, bound={key: form}, status=400)


def _get_status(request, status_id: int) -> WorkflowStatus:
    return get_object_or_404(WorkflowStatus, pk=status_id, workspace=request.workspace)


@require_POST
@require_capability(CONFIGURE)
def edit_status(request: HttpRequest, status_id: int) -> HttpResponse:
    status = _get_status(request, status_id)
    key = f"status-{status.pk}"
    form = StatusForm(request.POST, prefix=key)
    if form.is_valid():
        try:
            configuration.update_status(status=status, **form.cleaned_data)
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved the status {status.name}.")
            return _saved(
                request,
                lambda: _workflows_page(request, status.record_type),
                _workflows_url(request, status.record_type),
            )
    return _workflows_page(request, status.record_type, bound={key: form}, status=400)


@require_POST
@require_capability(CONFIGURE)
def move_status(request: HttpRequest, status_id: int) -> HttpResponse:
    status = _get_status(request, status_id)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        messages.error(request, "Move a status up or down.")
        if request.htmx:
            return _workflows_page(request, status.record_type, status=400)
    else:
        configuration.move_status(status=status, offset=-1 if direction == "up" else 1)
    return _saved(
        request,
        lambda: _workflows_page(request, status.record_type),
        _workflows_url(request, status.record_type),
    )


@require_capability(CONFIGURE)
def delete_status(request: HttpRequest, status_id: int) -> HttpResponse:
    """A confirmation page; when records use the status, it asks where to move them."""
    status = _get_status(request, status_id)
    usage = configuration.status_usage(status)
    form = DeleteStatusForm(
        request.POST if request.method == "POST" else None,
        status=status,
        needs_replacement=usage > 0,
    )
    if request.method == "POST" and form.is_valid():
        try:
            moved = configuration.delete_status(
                status=status, replacement=form.cleaned_data["replacement"], user=request.user
            )
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            note = f" and moved {moved} record(s)" if moved else ""
            messages.success(request, f"Deleted the status {status.name}{note}.")
            return redirect(_workflows_url(request, status.record_type))
    return render(
        request,
        "workspaces/settings/delete_status.html",
        {"status": status, "usage": usage, "form": form, "tab": "workflows"},
        status=400 if form.errors else 200,
    )


@require_capability(CONFIGURE)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Settings → Audit log: who changed the configuration, authorized, approved, and when."""
    from aharally.workspaces.audit import audit_entries

    return render(
        request,
        "workspaces/settings/audit_log.html",
        {"entries": audit_entries(request.workspace), "tab": "audit"},
    )
