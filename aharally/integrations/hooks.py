"""Where the sync hears about an integration's life without integrations importing it."""

from __future__ import annotations

from collections.abc import Callable

# listener(integration) -> None, called after the transaction that authorized it commits.
_authorized: list[Callable] = []


def register_authorized_listener(listener: Callable) -> None:
    if listener not in _authorized:
        _authorized.append(listener)


def authorized(integration) -> None:
    for listener in _authorized:
        listener(integration)
