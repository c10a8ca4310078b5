"""Allauth calls these after sign-up and sign-in; the work is in members.accept_invitations."""

from __future__ import annotations

from allauth.account.signals import user_logged_in, user_signed_up
from django.contrib import messages
from django.dispatch import receiver

from aharally.workspaces.members import SESSION_KEY, accept_invitations, invitation_from_session


@receiver(user_signed_up, dispatch_uid="aharally_accept_invitations_on_signup")
@receiver(user_logged_in, dispatch_uid="aharally_accept_invitations_on_login")
def accept_pending_invitations(sender, request, user, **kwargs) -> None:
    via = invitation_from_session(request) if request is not None else None
    joined = accept_invitations(user=user, via=via)
    if request is None:
        return
    if via is not None and via.email.lower() == (user.email or "").lower():
        request.session.pop(SESSION_KEY, None)
    for membership in joined:
        messages.success(
            request,
            f"You joined {membership.workspace.name} as {membership.get_role_display().lower()}.",
        )
