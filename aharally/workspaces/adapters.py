from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.conf import settings

from aharally.workspaces.members import invitation_from_session


class AccountAdapter(DefaultAccountAdapter):
    def clean_password(self, password: str, user=None) -> str:
        """Sign-up, change and reset: a password past PASSWORD_MAX_LENGTH is refused first."""
        if len(password or "") > settings.PASSWORD_MAX_LENGTH:
            raise forms.ValidationError(
                f"Use at most {settings.PASSWORD_MAX_LENGTH} characters for your password."
            )
        return super().clean_password(password, user=user)

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """Failed sign-ins count per account *and* client address.

        allauth counts them per account alone, so anyone could lock the owner out by guessing
        wrong five times; per account and address, the guesser is slowed and the owner, from
        another client, still signs in with the right password (ACCOUNT_RATE_LIMITS).
        """
        key = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{key}:{self.get_client_ip(request)}"

    def is_open_for_signup(self, request) -> bool:
        """Open sign-up follows ACCOUNT_ALLOW_SIGNUPS; an invitation link opens it regardless.

        Following the link in an invitation email stores its signed token in the session
        (workspaces.views.invitation), so closed sign-up still admits invited people.
        """
        if settings.ACCOUNT_ALLOW_SIGNUPS:
            return True
        return invitation_from_session(request) is not None

    def clean_email(self, email: str) -> str:
        """With sign-up closed, an invitation admits only the address it was sent to."""
        email = super().clean_email(email)
        if settings.ACCOUNT_ALLOW_SIGNUPS or self.request is None:
            return email
        invitation = invitation_from_session(self.request)
        if invitation is not None and invitation.email.lower() != email.strip().lower():
            raise forms.ValidationError(
                f"Your invitation is for {invitation.email}: sign up with that address."
            )
        return email
