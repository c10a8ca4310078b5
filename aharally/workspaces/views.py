"""Home, workspace creation and invitation links."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from aharally.records.models import Feature, Initiative
from aharally.workspaces.forms import WorkspaceCreateForm
from aharally.workspaces.members import (
    SESSION_KEY,
    accept_invitations,
    invitation_from_token,
    user_exists_with_email,
)
from aharally.workspaces.models import Membership
from aharally.workspaces.services import create_workspace


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Go straight to the only workspace's board; otherwise list the workspaces."""
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .annotate(
            feature_count=_count_in_workspace(Feature),
            initiative_count=_count_in_workspace(Initiative),
            member_count=_count_in_workspace(Membership),
        )
        .order_by("workspace__name")
    )
    if len(memberships) == 1:
        return redirect("records:board", prefix=memberships[0].workspace.prefix)
    return render(request, "workspaces/home.html", {"memberships": memberships})


def _count_in_workspace(model) -> Coalesce:
    rows = (
        model.objects.filter(workspace=OuterRef("workspace"))
        .order_by()
        .values("workspace")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


@login_required
def create(request: HttpRequest) -> HttpResponse:
    """Anyone signed in may start a workspace, and owns it."""
    form = WorkspaceCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = create_workspace(
                name=form.cleaned_data["name"],
                prefix=form.cleaned_data["prefix"],
                owner=request.user,
            )
        except IntegrityError:  # another request took the prefix after validation
            form.add_error("prefix", "This prefix is already used by another workspace.")
        else:
            messages.success(request, f"Created {workspace.name}. You are its owner.")
            return redirect("records:board", prefix=workspace.prefix)
    return render(request, "workspaces/create.html", {"form": form})


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email: join now, or sign in / sign up first."""
    found = invitation_from_token(token)
    if found is None:
        return render(request, "workspaces/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        joined = accept_invitations(user=request.user, via=found)
        if any(m.workspace_id == found.workspace_id for m in joined) or (
            request.user.memberships.filter(workspace_id=found.workspace_id).exists()
        ):
            messages.success(request, f"You are a member of {found.workspace.name}.")
            return redirect("records:board", prefix=found.workspace.prefix)
        return render(
            request, "workspaces/invitation_other_account.html", {"invitation": found}, status=403
        )
    # Remember the link so that sign-up opens for this address even when sign-up is closed,
    # and so that the invitation is accepted right after signing in.
    request.session[SESSION_KEY] = token
    if user_exists_with_email(found.email):
        messages.info(request, f"Sign in as {found.email} to join {found.workspace.name}.")
        return redirect("account_login")
    return redirect(reverse("account_signup") + "?" + urlencode({"email": found.email}))
