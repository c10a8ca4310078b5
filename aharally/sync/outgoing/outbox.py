"""Turning sends and edits into outbox rows (attempts.py claims and settles them).

Every row is written in the transaction of the edit or click that caused it and the drain is
enqueued only once that transaction commits (DESIGN rule 2). At most one *open* row exists per
record and integration (awaiting approval, queued or failed): later changes merge into it, so
several changes that wait together go out as one update.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aharally.integrations.models import Integration, OutgoingMode
from aharally.records.rows import insert_each, update_each
from aharally.sync import history
from aharally.sync.enqueue import drain_on_commit
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    OutboxItem,
    OutboxKind,
    OutboxState,
    SendJob,
)
from aharally.sync.outgoing.planning import (
    PlannedSend,
    SendPlan,
    plan_sends,
)
from aharally.sync.outgoing.planning import (
    SyncError as SyncError,
)
from aharally.sync.outgoing.planning import (
    check_can_send as check_can_send,
)

logger = logging.getLogger(__name__)

# Rich text waits this long after the last keystroke-sized edit before it is sent.
RICH_TEXT_FIELDS = {"description"}


def approval_needed(integration: Integration) -> bool:
    return integration.source.outgoing_mode == OutgoingMode.APPROVE


def _initial_state(integration: Integration) -> str:
    return OutboxState.AWAITING_APPROVAL if approval_needed(integration) else OutboxState.QUEUED


def open_row(integration_id: int, record_type: str, record_id: int) -> OutboxItem | None:
    return (
        OutboxItem.objects.select_for_update()
        .filter(
            integration_id=integration_id,
            record_type=record_type,
            record_id=record_id,
            state__in=OPEN_STATES,
        )
        .first()
    )


@transaction.atomic  # select_for_update needs a transaction (PostgreSQL insists)
def write_row(
    *,
    integration: Integration,
    record_type: str,
    record_id: int,
    kind: str,
    fields: Iterable[str] = (),
    user=None,
    job: SendJob | None = None,
    cascade: bool = False,
    state: str | None = None,
    not_before=None,
    send_now: bool = False,
) -> OutboxItem:
    """Create the record's open row, or merge into the one there is (a failed one is retried).

    `send_now` (a person's Send to Rally) ends a rich-text quiet period the row waits out,
    never a retry's back-off.
    """
    fields = list(fields)
    state = state or _initial_state(integration)
    for _ in range(3):
        if kind == OutboxKind.CREATE:
            # A create already on its way is the record's create: never a second one.
            sending = OutboxItem.objects.filter(
                integration_id=integration.pk,
                record_type=record_type,
                record_id=record_id,
                kind=OutboxKind.CREATE,
                state=OutboxState.IN_FLIGHT,
            ).first()
            if sending is not None:
                return sending
        row = open_row(integration.pk, record_type, record_id)
        if row is None:
            try:
                with transaction.atomic():
                    return OutboxItem.objects.create(
                        integration=integration,
                        record_type=record_type,
                        record_id=record_id,
                        kind=kind,
                        fields=fields,
                        state=state,
                        job=job,
                        cascade=cascade,
                        created_by=user,
                        not_before=not_before,
                    )
            except IntegrityError:
                continue  # another transaction wrote the open row first: merge into it
        _merge(
            row, kind=kind, fields=fields, cascade=cascade, job=job, state=state,
            not_before=not_before, send_now=send_now,
        )  # fmt: skip
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            continue  # a create of the record got under way meanwhile: look again
        return row
    raise SyncError("The record changed while it was being queued; try again.")


def _merge(row: OutboxItem, *, kind, fields, cascade, job, state, not_before, send_now) -> None:
    """A change joining the record's open row (not saved)."""
    if row.kind == OutboxKind.UPDATE and kind == OutboxKind.CREATE:
        row.kind = OutboxKind.CREATE
    row.fields = sorted(set(row.fields) | set(fields))
    row.cascade = row.cascade or cascade
    if job is not None:
        row.job = job
    if row.state == OutboxState.FAILED:
        # A failed change is tried again once the record changes (or is sent again).
        row.state = state
        row.error_kind, row.error_message = "", ""
        row.attempts = 0
    if state == OutboxState.QUEUED and row.state == OutboxState.AWAITING_APPROVAL:
        row.state = state
    if not_before is not None and (row.not_before is None or not_before > row.not_before):
        row.not_before = not_before
    elif not_before is None and (kind == OutboxKind.CREATE or (send_now and not row.error_kind)):
        row.not_before = None


@transaction.atomic
def request_send(
    *,
    record,
    integration: Integration,
    user=None,
    job: SendJob | None = None,
    cascade: bool = True,
    enqueue: bool = True,
) -> OutboxItem:
    """Queue the record for sending as planning.plan_sends says: a create when it has no
    link, else a full update; SyncError when it is refused."""
    plan = plan_sends(records=[record], integration=integration)
    if plan.first_refusal():
        raise SyncError(plan.first_refusal())
    send = plan.sends[0]
    row = write_row(
        integration=integration,
        record_type=send.record_type,
        record_id=record.pk,
        kind=send.kind,
        fields=send.fields,
        user=user,
        job=job,
        cascade=cascade,
        send_now=True,
    )
    if row.state == OutboxState.AWAITING_APPROVAL:
        history.note(row, ActivityAction.QUEUED, WAITING_FOR_REVIEWER, user)
    if enqueue and row.state == OutboxState.QUEUED:
        drain_on_commit(integration.pk)
    return row


def request_sends(
    *,
    records: list,
    integration: Integration,
    user=None,
    job: SendJob | None = None,
    plan: SendPlan | None = None,
    skip_refused: bool = False,
) -> list[OutboxItem]:
    """`request_send` for many records (a bulk send), in a few queries a record type rather
    than a few a record: the same plan and refusals, rows written in one insert.

    A refusal refuses the whole send, unless `skip_refused` (the person saw the preview, which
    named what is refused): then the rest goes. A record that has a row already (open, or its
    create in flight) joins it through `request_send`, as do all of them should a row appear
    meanwhile. No drain is enqueued.
    """
    plan = plan or plan_sends(records=records, integration=integration)
    if plan.refused_all:
        raise SyncError(plan.refused_all)
    if not skip_refused and plan.first_refusal():
        raise SyncError(plan.first_refusal())
    by_type: dict[str, list[PlannedSend]] = {}
    for send in plan.accepted:
        by_type.setdefault(send.record_type, []).append(send)
    rows: list[OutboxItem] = []
    for record_type, sends in by_type.items():
        rows += _request_sends_of_type(record_type, sends, integration, user=user, job=job)
    return rows


def _request_sends_of_type(record_type, sends, integration, *, user, job) -> list[OutboxItem]:
    ids = [send.record.pk for send in sends]
    busy = set(
        OutboxItem.objects.filter(
            integration=integration,
            record_type=record_type,
            record_id__in=ids,
            state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
        ).values_list("record_id", flat=True)
    )
    state = _initial_state(integration)
    fresh = [send for send in sends if send.record.pk not in busy]
    written: list[OutboxItem] = []
    try:
        with transaction.atomic():
            written = OutboxItem.objects.bulk_create(
                [
                    OutboxItem(
                        integration=integration,
                        record_type=record_type,
                        record_id=send.record.pk,
                        kind=send.kind,
                        fields=send.fields,
                        state=state,
                        job=job,
                        cascade=True,
                        created_by=user,
                    )
                    for send in fresh
                ]
            )
    except IntegrityError:
        fresh = []  # a row was written meanwhile: each record the long way
    if state == OutboxState.AWAITING_APPROVAL and written:
        history.note_all(
            ((row, WAITING_FOR_REVIEWER) for row in written), ActivityAction.QUEUED, user
        )
    done = {send.record.pk for send in fresh}
    for send in sends:
        if send.record.pk not in done:
            written.append(
                request_send(
                    record=send.record, integration=integration, user=user, job=job, enqueue=False
                )
            )
    return written


WAITING_FOR_REVIEWER = "Waiting for a reviewer in Integration updates."


def queue_change(
    *, integration: Integration, record_type: str, record_id: int, fields: list[str], user
) -> OutboxItem:
    """An edit of a linked record's mapped fields becomes (or joins) an update row."""
    row = write_row(
        integration=integration,
        record_type=record_type,
        record_id=record_id,
        kind=OutboxKind.UPDATE,
        fields=fields,
        user=user,
        not_before=_quiet_until(fields),
    )
    return row


def _quiet_until(fields) -> datetime | None:
    """When a change of rich text may go (it waits for the typing to stop), or None."""
    seconds = settings.SYNC_RICH_TEXT_QUIET_SECONDS
    if seconds and RICH_TEXT_FIELDS & set(fields):
        return timezone.now() + timedelta(seconds=seconds)
    return None


@dataclass(frozen=True)
class Change:
    """An edit of one linked record, for one integration: the mapped fields it changed."""

    integration: Integration
    record_type: str
    record_id: int
    fields: list[str]


def queue_changes(changes: Sequence[Change], *, user) -> set[int]:
    """`queue_change` for the records of one edit (a bulk move of a thousand linked cards) in
    a few statements whatever their number: their open rows read in one query, merged into in
    one UPDATE, the new rows written in one INSERT. Returns the integrations with a row due
    now (their drains to enqueue).

    Rows written meanwhile by another transaction (PostgreSQL; SQLite's write lock is held)
    make the INSERT fail: those changes then go the one-at-a-time way, which merges into them.
    """
    if not changes:
        return set()
    with transaction.atomic():
        found = _open_rows_of(changes)
        merged, fresh = [], []
        for change in changes:
            row = found.get((change.integration.pk, change.record_type, change.record_id))
            if row is None:
                fresh.append(change)
            else:
                _merge(
                    row, kind=OutboxKind.UPDATE, fields=change.fields, cascade=False, job=None,
                    state=_initial_state(change.integration),
                    not_before=_quiet_until(change.fields), send_now=False,
                )  # fmt: skip
                row.updated_at = timezone.now()  # as `save()` stamps it
                merged.append(row)
        update_each(merged, _MERGED_FIELDS)
        due = {row.integration_id for row in merged if is_due(row.state, row.not_before)}
        new = [_new_update(change, user) for change in fresh]
        try:
            with transaction.atomic():
                insert_each(OutboxItem, new)
        except IntegrityError:
            for change in fresh:
                row = queue_change(
                    integration=change.integration,
                    record_type=change.record_type,
                    record_id=change.record_id,
                    fields=change.fields,
                    user=user,
                )
                if is_due(row.state, row.not_before):
                    due.add(row.integration_id)
        else:
            due |= {row["integration_id"] for row in new if is_due(row["state"], row["not_before"])}
    return due


# What `_merge` changes of an update's open row (its kind, cascade and job stay as they are).
_MERGED_FIELDS = [
    "fields", "state", "error_kind", "error_message", "attempts", "not_before", "updated_at",
]  # fmt: skip


def _open_rows_of(changes: Sequence[Change]) -> dict[tuple[int, str, int], OutboxItem]:
    wanted: dict[tuple[int, str], list[int]] = {}
    for change in changes:
        wanted.setdefault((change.integration.pk, change.record_type), []).append(change.record_id)
    which = Q(pk__in=[])
    for (integration_id, record_type), record_ids in wanted.items():
        which |= Q(integration_id=integration_id, record_type=record_type, record_id__in=record_ids)
    rows = OutboxItem.objects.select_for_update().filter(which, state__in=OPEN_STATES)
    return {(row.integration_id, row.record_type, row.record_id): row for row in rows}


def _new_update(change: Change, user) -> dict:
    return {
        "integration_id": change.integration.pk,
        "record_type": change.record_type,
        "record_id": change.record_id,
        "kind": OutboxKind.UPDATE,
        "fields": sorted(set(change.fields)),
        "state": _initial_state(change.integration),
        "created_by_id": user.pk if user is not None else None,
        "not_before": _quiet_until(change.fields),
    }


def is_due(state: str, not_before) -> bool:
    """Whether a row goes at the next drain (not waiting for approval, a retry or typing)."""
    return state == OutboxState.QUEUED and not_before is None


# -- claiming, in the cluster ------------------------------------------------------------------


def reclaim_stuck(*, integration_id: int | None = None) -> int:
    """Rows left in flight by a worker that died go back to the queue (a create looks first).

    The record may have changed meanwhile: its change waits in a newer open row, and a record
    has one open row. The stuck row then joins that one (fields, create and all) and goes.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.SYNC_CLAIM_TIMEOUT_SECONDS)
    rows = OutboxItem.objects.filter(state=OutboxState.IN_FLIGHT, claimed_at__lt=cutoff)
    if integration_id is not None:
        rows = rows.filter(integration_id=integration_id)
    count = 0
    for stuck in rows:
        count += _reclaim(stuck)
    if count:
        logger.warning("Reclaimed %s outbox rows left in flight", count)
    return count


@transaction.atomic
def _reclaim(stuck: OutboxItem) -> int:
    still = OutboxItem.objects.filter(
        pk=stuck.pk, state=OutboxState.IN_FLIGHT, claim_token=stuck.claim_token
    )
    later = open_row(stuck.integration_id, stuck.record_type, stuck.record_id)
    if later is None:
        return still.update(state=OutboxState.QUEUED, claim_token="", claimed_at=None)
    if not still.exists():
        return 0  # its worker finished it after all
    still.delete()  # first: a create not yet done is one row (one_unsent_create_per_record)
    later.fields = sorted(set(later.fields) | set(stuck.fields))
    later.cascade = later.cascade or stuck.cascade
    later.job = later.job or stuck.job
    if stuck.kind == OutboxKind.CREATE:
        later.kind = OutboxKind.CREATE
        later.look_before_send = stuck.look_before_send
        later.sent_values = stuck.sent_values
        later.first_attempt_at = stuck.first_attempt_at
        later.attempts = stuck.attempts
    later.save()
    history.note(
        later, ActivityAction.QUEUED, "A send left unfinished by a stopped worker joins this one."
    )
    return 1


def retry_now(*, rows) -> int:
    """Failed or waiting rows go out at once (Retry now)."""
    return rows.filter(state__in=[OutboxState.FAILED, OutboxState.QUEUED]).update(
        state=OutboxState.QUEUED, not_before=None, attempts=0
    )


@transaction.atomic
def retry_record(*, integration: Integration, record_type: str, record_id: int) -> int:
    """A record's failed or waiting rows go out at once, a drain enqueued (Retry now)."""
    count = retry_now(
        rows=OutboxItem.objects.filter(
            integration=integration, record_type=record_type, record_id=record_id
        )
    )
    drain_on_commit(integration.pk)
    return count


def resend_kept(link, fields: list[str]) -> None:
    """A conflict policy kept aharally's value of `fields` (the catch-up moved the baseline to
    Rally's): ours goes out again, approved as any edit of the integration is."""
    write_row(
        integration=link.integration,
        record_type=link.record_type,
        record_id=link.record_id,
        kind=OutboxKind.UPDATE,
        fields=fields,
    )
    drain_on_commit(link.integration_id)
