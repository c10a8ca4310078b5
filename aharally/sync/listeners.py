"""Where an app above the sync hears what the sync did, without the sync importing it.

The alerts register here from their `AppConfig.ready()` (docs/architecture.md: a lower app
offers a registry, the higher one fills it in).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# listener(integration_id, *, changed) -> None, after a catch-up ran: `changed` the
# (ObjectID, LastUpdateDate) of each Rally object it applied something of.
_caught_up: list[Callable] = []


def register_catch_up_listener(listener: Callable) -> None:
    if listener not in _caught_up:
        _caught_up.append(listener)


def caught_up(integration_id: int, *, changed: list) -> None:
    for listener in _caught_up:
        try:
            listener(integration_id, changed=changed)
        except Exception:
            # What listens (the alerts) never undoes or fails a catch-up that has committed.
            logger.exception("A catch-up listener failed for integration %s", integration_id)


# resend(link, fields) -> None, inside the transaction that decided it: a conflict policy kept
# aharally's value of `fields` and moved the baseline to Rally's, so ours must go out again. The
# sync's outgoing half registers it (sync/apps.py): the catch-up, in the incoming half, may not
# import it.
_resend: list[Callable] = []


def register_resend(handler: Callable) -> None:
    if handler not in _resend:
        _resend.append(handler)


def resend(link, fields: list[str]) -> None:
    for handler in _resend:
        handler(link, fields)


# forward(integration_id, record_type, changed) -> None, inside the transaction that took
# them: `changed` the fields (by record id) one integration took from its Rally. The outgoing
# half registers it (sync/apps.py) and sends them on to every other Rally those records are
# linked into, as an edit made here would go.
_forward: list[Callable] = []


def register_forward(handler: Callable) -> None:
    if handler not in _forward:
        _forward.append(handler)


def taken_from_rally(integration_id: int, record_type: str, changed: dict[int, list[str]]) -> None:
    if not changed:
        return
    for handler in _forward:
        handler(integration_id, record_type, changed)


# forward_import(integration_id, record) -> None, inside the transaction that imported it: a
# record one integration imported from its Rally. The outgoing half sends a story on to the
# other Rallys its feature is linked into.
_forward_import: list[Callable] = []


def register_forward_import(handler: Callable) -> None:
    if handler not in _forward_import:
        _forward_import.append(handler)


def imported_from_rally(integration_id: int, record) -> None:
    for handler in _forward_import:
        handler(integration_id, record)
