"""Home and workspace creation: above workspaces and records, as they use both.

The home page counts each workspace's records; a new workspace gets its parking lot (a
release). Creation keeps its URL name in the workspaces namespace (aharally/urls.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aharally.records.models import Feature, Initiative
from aharally.records.services import create_workspace
from aharally.workspaces.forms import WorkspaceCreateForm
from aharally.workspaces.models import Membership


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
