"""The top bar's bell: the person's unread notifications."""

from __future__ import annotations

from django.utils.functional import cached_property

from aharally.alerts.services import unread_count


class Bell:
    """Counted once per page, and only if the page shows the top bar."""

    def __init__(self, user) -> None:
        self.user = user

    @cached_property
    def unread(self) -> int:
        return unread_count(self.user)


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"bell": Bell(user)}
