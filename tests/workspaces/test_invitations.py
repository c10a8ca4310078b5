"""Invitations: sent by owners, accepted at sign-up or sign-in, even with sign-up closed."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core import mail

from aharally.workspaces.members import accept_invitations, invitation_token, invite_member
from aharally.workspaces.models import Invitation, Membership, Role
from tests.factories import PASSWORD, make_user

User = get_user_model()
NEW_PASSWORD = "a-long-and-unusual-passphrase"


def _invite(client, cast, email="newcomer@example.com", role=Role.CONTRIBUTOR):
    client.force_login(cast.owner)
    return client.post("/w/PLAT/settings/invitations/", {"email": email, "role": role})


def _link_path(message) -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_an_owner_invites_by_email_and_the_email_carries_a_link(
    client, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client, cast)
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="newcomer@example.com")
    assert (invitation.workspace, invitation.role) == (cast.workspace, Role.CONTRIBUTOR)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newcomer@example.com"]
    assert "Platform" in mail.outbox[0].subject
    assert _link_path(mail.outbox[0]).startswith("/invitations/")


def test_inviting_a_member_again_is_refused(client, cast):
    response = _invite(client, cast, email="viewer@example.com")
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_inviting_the_same_email_twice_is_refused(client, cast):
    _invite(client, cast)
    response = _invite(client, cast, email="NEWCOMER@example.com")
    assert "already been invited" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_an_invalid_email_gets_a_message(client, cast):
    response = _invite(client, cast, email="not-an-email")
    assert "valid email" in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_owner_cancels_an_invitation(client, cast):
    _invite(client, cast)
    invitation = Invitation.objects.get()
    response = client.post(f"/w/PLAT/settings/invitations/{invitation.pk}/cancel/")
    assert response.status_code == 302
    assert not Invitation.objects.exists()


def test_signing_up_after_following_the_link_makes_a_membership(client, cast, settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.REVIEWER, invited_by=None
    )
    client.get(f"/invitations/{invitation_token(invitation)}/")
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    user = User.objects.get(email="new@example.com")
    membership = Membership.objects.get(user=user)
    assert (membership.workspace, membership.role) == (cast.workspace, Role.REVIEWER)
    assert Invitation.objects.get().accepted_at is not None


def test_signing_up_with_an_invited_email_but_without_the_link_joins_nothing(
    client, cast, settings
):
    # Verification off (the default): anyone can type the invited address at sign-up.
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.REVIEWER, invited_by=None
    )
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    user = User.objects.get(email="new@example.com")
    assert not Membership.objects.filter(user=user).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_existing_user_with_a_verified_address_signing_in_accepts_the_invitation(client, cast):
    from allauth.account.models import EmailAddress

    existing = make_user("known@example.com")
    EmailAddress.objects.create(user=existing, email="known@example.com", verified=True)
    invite_member(
        workspace=cast.workspace, email="known@example.com", role=Role.VIEWER, invited_by=None
    )
    client.post("/accounts/login/", {"login": "known@example.com", "password": PASSWORD})
    assert Membership.objects.get(user=existing).role == Role.VIEWER


def test_an_unverified_address_signing_in_without_the_link_accepts_nothing(client, cast):
    existing = make_user("known@example.com")
    invite_member(
        workspace=cast.workspace, email="known@example.com", role=Role.VIEWER, invited_by=None
    )
    client.post("/accounts/login/", {"login": "known@example.com", "password": PASSWORD})
    assert not Membership.objects.filter(user=existing, workspace=cast.workspace).exists()


def test_with_sign_up_closed_the_invitation_link_still_lets_the_invited_email_sign_up(
    client, cast, settings
):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.CONTRIBUTOR, invited_by=None
    )
    landing = client.get(f"/invitations/{invitation_token(invitation)}/")
    assert landing.status_code == 302
    assert landing["Location"].startswith("/accounts/signup/?email=new%40example.com")
    form = client.get(landing["Location"])
    assert 'value="new@example.com"' in form.content.decode()
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    user = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=user).role == Role.CONTRIBUTOR


def test_with_sign_up_closed_an_invitation_link_does_not_admit_another_email(
    client, cast, settings
):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.CONTRIBUTOR, invited_by=None
    )
    client.get(f"/invitations/{invitation_token(invitation)}/")
    response = client.post(
        "/accounts/signup/",
        {"email": "someone@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert "Your invitation is for new@example.com" in response.content.decode()
    assert not User.objects.filter(email="someone@example.com").exists()


def test_with_sign_up_closed_an_invited_email_without_the_link_cannot_sign_up(
    client, cast, settings
):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.CONTRIBUTOR, invited_by=None
    )
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert not User.objects.filter(email="new@example.com").exists()


def test_a_forged_or_cancelled_invitation_link_is_not_found(client, cast):
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.VIEWER, invited_by=None
    )
    token = invitation_token(invitation)
    assert client.get(f"/invitations/{token}x/").status_code == 404
    invitation.delete()
    assert client.get(f"/invitations/{token}/").status_code == 404


def test_a_signed_in_user_following_their_link_joins_at_once(client, cast):
    user = make_user("new@example.com")
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.VIEWER, invited_by=None
    )
    client.force_login(user)
    response = client.get(f"/invitations/{invitation_token(invitation)}/")
    assert response.status_code == 302
    assert response["Location"] == "/w/PLAT/features/board/"
    assert Membership.objects.get(user=user).role == Role.VIEWER


def test_a_signed_in_user_with_another_email_does_not_take_the_invitation(client, cast):
    intruder = make_user("intruder@example.com")
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.VIEWER, invited_by=None
    )
    client.force_login(intruder)
    response = client.get(f"/invitations/{invitation_token(invitation)}/")
    assert response.status_code == 403
    assert not Membership.objects.filter(user=intruder).exists()


def test_accepting_never_lowers_an_existing_role(cast):
    invite_member(
        workspace=cast.workspace,
        email="someone@example.com",
        role=Role.VIEWER,
        invited_by=None,
    )
    user = make_user("someone@example.com")
    Membership.objects.create(workspace=cast.workspace, user=user, role=Role.CONTRIBUTOR)
    assert accept_invitations(user=user, via=Invitation.objects.get()) == []
    assert Membership.objects.get(user=user).role == Role.CONTRIBUTOR
    assert Invitation.objects.get().accepted_at is not None


def test_with_mandatory_verification_only_a_verified_address_or_the_link_accepts(cast, settings):
    from allauth.account.models import EmailAddress

    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    invitation = invite_member(
        workspace=cast.workspace, email="new@example.com", role=Role.VIEWER, invited_by=None
    )
    user = make_user("new@example.com")
    EmailAddress.objects.create(user=user, email="new@example.com", verified=False, primary=True)
    assert accept_invitations(user=user) == []
    [membership] = accept_invitations(user=user, via=invitation)
    assert membership.workspace == cast.workspace


def test_an_htmx_invitation_gets_the_invitations_section_and_its_message(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/invitations/",
        {"email": "new@example.com", "role": Role.VIEWER},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert '<section id="invitations"' in html and 'id="members"' not in html
    assert "Sent an invitation to new@example.com." in html


def test_an_htmx_invalid_email_gets_400_with_the_error_in_the_invitations(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/invitations/",
        {"email": "not-an-email", "role": Role.VIEWER},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    assert "Enter a valid email address." in html[: html.index('id="messages"')]
