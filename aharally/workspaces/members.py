"""Members, roles and invitations of a workspace."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.models import Invitation, Membership, Role, Workspace

INVITATION_SALT = "aharally.workspaces.invitation"
# An invitation link stays usable for this long; the owner can send a new one afterwards.
INVITATION_MAX_AGE = 14 * 24 * 3600
SESSION_KEY = "aharally_invitation"


def _owners_locked(workspace: Workspace) -> list[int]:
    """Lock the workspace's owner memberships so two concurrent demotions can't both pass."""
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER)
        .values_list("pk", flat=True)
    )


@transaction.atomic
def change_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; the last owner keeps theirs."""
    if role not in Role.values:
        raise WorkspaceError("Choose one of the roles owner, contributor, reviewer or viewer.")
    owners = _owners_locked(membership.workspace)
    if membership.role == Role.OWNER and role != Role.OWNER and owners == [membership.pk]:
        raise WorkspaceError("A workspace needs an owner: make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, membership: Membership) -> None:
    """Take someone out of the workspace; the last owner can't be removed."""
    owners = _owners_locked(membership.workspace)
    if membership.role == Role.OWNER and owners == [membership.pk]:
        raise WorkspaceError("A workspace needs an owner: make someone else owner first.")
    membership.delete()


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=INVITATION_SALT)


def invitation_from_token(token: str) -> Invitation | None:
    """The open invitation a link names, or None when the link is forged, old or used."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_MAX_AGE)
    except signing.BadSignature:
        return None
    return (
        Invitation.objects.select_related("workspace")
        .filter(pk=data.get("i"), email=data.get("e"), accepted_at__isnull=True)
        .first()
    )


def invitation_from_session(request) -> Invitation | None:
    """The invitation whose link this browser followed, if it is still open."""
    session = getattr(request, "session", None)
    token = session.get(SESSION_KEY) if session is not None else None
    return invitation_from_token(token) if token else None


@transaction.atomic
def invite_member(*, workspace: Workspace, email: str, role: str, invited_by) -> Invitation:
    """Record an invitation and email its link (after the transaction commits)."""
    email = email.strip().lower()
    if role not in Role.values:
        raise WorkspaceError("Choose one of the roles owner, contributor, reviewer or viewer.")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise WorkspaceError(f"{email} is already a member of this workspace.")
    if Invitation.objects.filter(
        workspace=workspace, email__iexact=email, accepted_at__isnull=True
    ).exists():
        raise WorkspaceError(f"{email} has already been invited; cancel that invitation first.")
    invitation = Invitation.objects.create(
        workspace=workspace, email=email, role=role, invited_by=invited_by
    )
    transaction.on_commit(lambda: send_invitation_email(invitation=invitation))
    return invitation


def send_invitation_email(*, invitation: Invitation) -> None:
    link = settings.SITE_URL + reverse(
        "workspaces:invitation", kwargs={"token": invitation_token(invitation)}
    )
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "link": link,
        "inviter": (inviter.get_full_name() or inviter.email) if inviter else "A workspace owner",
    }
    send_mail(
        subject=f"You are invited to {invitation.workspace.name} on aharally",
        message=render_to_string("workspaces/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def cancel_invitation(*, invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise WorkspaceError("This invitation has already been accepted.")
    invitation.delete()


def _proven_emails(user, *, via: Invitation | None) -> set[str]:
    """Addresses we trust the user to own, whatever ACCOUNT_EMAIL_VERIFICATION says.

    A verified address counts; so does the invited address when the user followed that
    invitation's link, since only the owner of the address received it. An address merely
    typed at sign-up proves nothing (with verification off anyone can type any address).
    """
    from allauth.account.models import EmailAddress

    emails = {
        address.lower()
        for address in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }
    if via is not None and user.email and via.email.lower() == user.email.lower():
        emails.add(via.email.lower())
    return emails


@transaction.atomic
def accept_invitations(*, user, via: Invitation | None = None) -> list[Membership]:
    """Turn the user's open invitations into memberships; returns the new memberships.

    An existing membership is kept as it is (an invitation never lowers a role).
    """
    emails = _proven_emails(user, via=via)
    if not emails:
        return []
    query = Q()
    for email in emails:
        query |= Q(email__iexact=email)
    invitations = list(
        Invitation.objects.select_for_update()
        .filter(query, accepted_at__isnull=True)
        .select_related("workspace")
    )
    created: list[Membership] = []
    now = timezone.now()
    for invitation in invitations:
        membership, was_created = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        if was_created:
            created.append(membership)
        invitation.accepted_at = now
        invitation.save(update_fields=["accepted_at"])
    return created


def user_exists_with_email(email: str) -> bool:
    return get_user_model().objects.filter(email__iexact=email).exists()
