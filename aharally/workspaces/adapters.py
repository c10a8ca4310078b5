from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Open sign-up follows ACCOUNT_ALLOW_SIGNUPS."""
        return settings.ACCOUNT_ALLOW_SIGNUPS
