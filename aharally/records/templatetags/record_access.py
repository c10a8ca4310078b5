"""What a member may see of a record in another workspace (a feature's initiative)."""

from __future__ import annotations

from django import template

from aharally.workspaces.models import Membership

register = template.Library()


@register.filter
def visible_to(record, user) -> bool:
    """Whether the user belongs to the record's workspace (so may read its name and page).

    A cross-workspace parent the user does not belong to is shown only as "in a workspace
    you don't belong to", as on the epic pages: neither its reference nor its name.
    """
    if record is None or not getattr(user, "is_authenticated", False):
        return False
    return Membership.objects.filter(user=user, workspace_id=record.workspace_id).exists()
