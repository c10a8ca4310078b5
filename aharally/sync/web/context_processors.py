"""The top bar's Integration updates link and its count, for reviewers and owners."""

from __future__ import annotations

from aharally.sync.review.queue import ReviewerBadge


def integration_updates(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: the queries run only on pages that render the top bar.
    return {"integration_updates": ReviewerBadge(user)}
