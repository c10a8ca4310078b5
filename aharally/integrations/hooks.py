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


# action(integration) -> (label, POST URL), (label, URL, "get") for a page, or None: extra
# entries of an integration's More options menu (the sync adds "Sync now", "Import from Rally",
# "Compare with Rally").
_settings_actions: list[Callable] = []


def register_settings_action(action: Callable) -> None:
    if action not in _settings_actions:
        _settings_actions.append(action)


def settings_actions(integration) -> list[tuple[str, str, str]]:
    """(label, URL, "post" or "get") of each entry."""
    found = []
    for action in _settings_actions:
        entry = action(integration)
        if entry is not None:
            label, url, *method = entry
            found.append((label, url, method[0] if method else "post"))
    return found


# Life-cycle listeners, each listener(integration): `enabled` and `disabled` after the
# transaction commits, `deleting` just before the integration (and its credential) goes,
# `needs_reauthorization` when Rally refused its credential (maybe inside a transaction: a
# listener that writes or sends waits for the commit).
_lifecycle: dict[str, list[Callable]] = {
    "enabled": [],
    "disabled": [],
    "deleting": [],
    "needs_reauthorization": [],
}


def register_lifecycle_listener(event: str, listener: Callable) -> None:
    if listener not in _lifecycle[event]:
        _lifecycle[event].append(listener)


def lifecycle(event: str, integration) -> None:
    for listener in _lifecycle[event]:
        listener(integration)
