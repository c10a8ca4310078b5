"""Access helpers: every view fetches its workspace and records through these."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from aharally.workspaces.models import Capability, Membership, Workspace


def get_membership(user, prefix: str) -> Membership:
    """The user's membership of the workspace, or 404: outsiders can't tell it exists."""
    try:
        return Membership.objects.select_related("workspace").get(
            user=user, workspace__prefix=prefix.upper()
        )
    except Membership.DoesNotExist:
        raise Http404("No such workspace.") from None


def require_capability(capability: str = Capability.VIEW):
    """Decorator: resolves `prefix` to request.membership / request.workspace, or 404/403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, prefix: str, *args, **kwargs):
            membership = get_membership(request.user, prefix)
            # Set first, so that a 403 page can show the workspace's navigation.
            request.membership = membership
            request.workspace = membership.workspace
            if not membership.can(capability):
                raise PermissionDenied("Your role in this workspace does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def visible_workspaces(user):
    """Workspaces the user is a member of."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user)
