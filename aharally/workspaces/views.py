from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from aharally.workspaces.access import visible_workspaces


@login_required
def home(request):
    """Go straight to the only workspace's board; otherwise list the workspaces."""
    workspaces = list(visible_workspaces(request.user))
    if len(workspaces) == 1:
        return redirect("records:board", prefix=workspaces[0].prefix)
    return render(request, "workspaces/home.html", {"workspaces": workspaces})
