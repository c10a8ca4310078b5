from __future__ import annotations

from aharally.workspaces.access import visible_workspaces
from aharally.workspaces.models import Capability


def workspace_nav(request):
    """The workspace switcher and what the member may do, for the top bar and pages."""
    membership = getattr(request, "membership", None)
    return {
        "nav_workspaces": lambda: list(visible_workspaces(request.user)),
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": membership,
        "can_edit": bool(membership and membership.can(Capability.EDIT_RECORDS)),
        "can_configure": bool(membership and membership.can(Capability.CONFIGURE)),
    }
