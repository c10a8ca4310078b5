"""Invitation links (home and workspace creation: aharally/home.py, above records)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from aharally.workspaces.members import (
    SESSION_KEY,
    accept_invitations,
    invitation_from_token,
    user_exists_with_email,
)


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
