"""An attempt's life: claiming due outbox rows, then settling each one — sent, deferred,
retried with backoff, paused for re-authorization, or failed for a person to see.

A claimed row is in flight under a claim token; its outcome is written only while the token
is still the row's (`_release`), so a worker that lost its claim (reclaimed as stuck) writes
nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aharally.observability.instruments import count_failure, observe_lag
from aharally.sync import history
from aharally.sync.models import ActivityAction, ErrorKind, OutboxItem, OutboxState
from aharally.sync.outgoing.statements import claim_statements, update_each, update_where

# Transient failures are retried automatically this many times, then wait for "Retry now".
MAX_AUTOMATIC_ATTEMPTS = 12


def ready_q(now) -> Q:
    return Q(state=OutboxState.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))


def claim_ready(*, integration_id: int, limit: int) -> list[OutboxItem]:
    """Claim up to `limit` due rows; returns what this call got.

    Safe with any number of drainers on any number of machines: on PostgreSQL the rows are
    locked as they are chosen (`SKIP LOCKED`, so a second claimer takes others rather than
    waiting), and the UPDATE re-checks that each is still queued and due; SQLite serialises
    the transaction (IMMEDIATE). A row is in one claim or none: never sent twice. The two
    statements are `ready_q`'s, written once (`statements.claim_statements`).
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    statements, connection, alias = claim_statements(OutboxItem)
    with transaction.atomic(using=alias):
        rows = statements.rows(
            connection, alias, integration_id=integration_id, now=now, limit=limit
        )
        if not rows:
            return []
        claimed = statements.take(connection, [row.pk for row in rows], token=token, now=now)
    if claimed == len(rows):
        # Every row read is this claim's (always, with the rows locked or the database
        # serialised): no need to read them again.
        for row in rows:
            row.state, row.claim_token, row.claimed_at = OutboxState.IN_FLIGHT, token, now
        return rows
    return list(OutboxItem.objects.filter(claim_token=token, state=OutboxState.IN_FLIGHT))


def still_claimed(rows: list[OutboxItem]) -> None:
    """The drain holding these rows is alive: move their claim time on (one UPDATE)."""
    tokens = {row.claim_token for row in rows if row.claim_token}
    if tokens:
        OutboxItem.objects.filter(state=OutboxState.IN_FLIGHT, claim_token__in=tokens).update(
            claimed_at=timezone.now()
        )


def give_back(rows: list[OutboxItem]) -> int:
    """Claimed rows that were never started go back to the queue as they were (no attempt
    counted, no error), for the next drain, in whichever cluster."""
    given = 0
    for token in {row.claim_token for row in rows}:
        given += OutboxItem.objects.filter(
            pk__in=[row.pk for row in rows if row.claim_token == token],
            state=OutboxState.IN_FLIGHT,
            claim_token=token,
        ).update(state=OutboxState.QUEUED, claim_token="", claimed_at=None)
    return given


def claim_one(row_id: int, *, from_states: Iterable[str]) -> OutboxItem | None:
    """Claim one row (e.g. a parent a feature needs first) if it is in one of `from_states`."""
    token = uuid.uuid4().hex
    updated = OutboxItem.objects.filter(pk=row_id, state__in=list(from_states)).update(
        state=OutboxState.IN_FLIGHT, claim_token=token, claimed_at=timezone.now()
    )
    return OutboxItem.objects.get(pk=row_id) if updated else None


def _release(row: OutboxItem, **changes) -> None:
    """Write the row's outcome, but only while this worker still holds it."""
    changes.setdefault("claim_token", "")
    changes.setdefault("claimed_at", None)
    update_where(
        OutboxItem, {"id": row.pk, "claim_token": row.claim_token},
        updated_at=timezone.now(), **changes,
    )  # fmt: skip
    for name, value in changes.items():
        setattr(row, name, value)


def defer(row: OutboxItem, *, seconds: float) -> None:
    """Put a row back without counting an attempt (it waits for something else to finish)."""
    _release(row, state=OutboxState.QUEUED, not_before=timezone.now() + timedelta(seconds=seconds))


def finish(row: OutboxItem, *, sent_values: dict) -> None:
    now = timezone.now()
    _release(row, **_sent(sent_values, now))
    _observe_lag(row, now)


def finish_each(finished: list[tuple[OutboxItem, dict]]) -> None:
    """`finish` for many rows (each with its sent values) in one statement, in the caller's
    transaction. The rows' attributes change once it commits: rolled back, they still hold
    their claim, and each can be finished on its own."""
    now = timezone.now()
    changes = [
        (
            {"id": row.pk, "claim_token": row.claim_token},
            {"updated_at": now, "claim_token": "", "claimed_at": None, **_sent(sent, now)},
        )
        for row, sent in finished
    ]
    update_each(OutboxItem, changes)

    def committed() -> None:
        for (row, _sent_values), (_where, values) in zip(finished, changes, strict=True):
            for name, value in values.items():
                setattr(row, name, value)
            _observe_lag(row, now)

    transaction.on_commit(committed)


def _sent(sent_values: dict, now) -> dict:
    return {
        "state": OutboxState.SENT,
        "sent_values": sent_values,
        "error_kind": "",
        "error_message": "",
        "finished_at": now,
        "look_before_send": False,
    }


def _observe_lag(row: OutboxItem, now) -> None:
    if row.sent_values and row.created_at:
        # The edit-to-Rally lag (/metrics); the pages read it from the rows themselves.
        observe_lag("to_rally", (now - row.created_at).total_seconds())


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    cap = min(settings.SYNC_MAX_BACKOFF_SECONDS, settings.SYNC_BASE_BACKOFF_SECONDS * 2**attempts)
    delay = cap / 2 + random.uniform(0, cap / 2)
    return max(delay, retry_after or 0)


def retry_later(
    row: OutboxItem,
    *,
    kind: str,
    message: str,
    retry_after: float | None = None,
    look_before_send: bool | None = None,
) -> None:
    """A failure expected to pass: back to the queue with backoff, or failed after too many."""
    count_failure(integration_id=row.integration_id, kind=kind)
    changes = {"error_kind": kind, "error_message": message[:4000]}
    if look_before_send is not None:
        changes["look_before_send"] = look_before_send
    if row.attempts >= MAX_AUTOMATIC_ATTEMPTS:
        _release(row, state=OutboxState.FAILED, not_before=None, **changes)
        history.note(
            row, ActivityAction.FAILED, f"Gave up after {row.attempts} attempts: {message}"
        )
        return
    delay = backoff_seconds(row.attempts, retry_after)
    _release(
        row,
        state=OutboxState.QUEUED,
        not_before=timezone.now() + timedelta(seconds=delay),
        **changes,
    )


def pause_for_auth(row: OutboxItem, *, message: str) -> None:
    """The credential was refused: the row waits, uncounted, until the owner re-authorizes."""
    count_failure(integration_id=row.integration_id, kind=ErrorKind.AUTH)
    _release(
        row,
        state=OutboxState.QUEUED,
        attempts=max(row.attempts - 1, 0),
        error_kind=ErrorKind.AUTH,
        error_message=message[:4000],
        not_before=None,
    )


def fail(row: OutboxItem, *, kind: str, message: str, look_before_send: bool = False) -> None:
    """A failure that needs a person: kept with its reason until the record changes or Retry."""
    count_failure(integration_id=row.integration_id, kind=kind)
    _release(
        row,
        state=OutboxState.FAILED,
        error_kind=kind,
        error_message=message[:4000],
        not_before=None,
        look_before_send=look_before_send,
    )
    history.note(row, ActivityAction.FAILED, message)
