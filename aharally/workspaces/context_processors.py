from __future__ import annotations

from aharally.workspaces.access import visible_workspaces


def workspace_nav(request):
    """The workspace switcher in the top bar, evaluated only when a template uses it."""
    return {
        "nav_workspaces": lambda: list(visible_workspaces(request.user)),
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
    }
