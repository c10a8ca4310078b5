"""Sending one claimed outbox row to Rally: a create (parents first), an update, or a link.

A create costs exactly one request: the `fetch` of the create asks for what the link needs
(ObjectID, FormattedID), and the baseline is what was sent. A create whose answer was lost is
looked for in Rally before it is sent again (`find_lost_create`), so it is never made twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aharally.integrations.connection import explain
from aharally.integrations.log import record_failure, record_success
from aharally.integrations.models import Integration
from aharally.observability import logcontext
from aharally.rally.errors import (
    RallyAuthError,
    RallyConcurrencyConflict,
    RallyConfigError,
    RallyError,
    RallyNotFound,
    RallyOutcomeUnknown,
    RallyThrottled,
    RallyTransientError,
    RallyValidationError,
)
from aharally.rally.transport import RequestsNotHere, no_requests
from aharally.sync import history, links, mapping
from aharally.sync.models import (
    DISCUSSION_KINDS,
    ActivityAction,
    ErrorKind,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.cascade import follow_feature
from aharally.sync.outgoing.discussion import LOOK_AFTER_LOST_ANSWER, push_item, queue_existing
from aharally.sync.outgoing.linking import push_link
from aharally.sync.outgoing.parents import (
    ParentFailed,
    placeholder_refs,
    plan_parents_of,
    resolve_parents,
)
from aharally.sync.outgoing.payload import (
    find_lost_create,
    lost_parent,
    payload_for_create,
)
from aharally.sync.outgoing.ranking import rank_parameter
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.sync.outgoing.statements import update_where
from aharally.sync.outgoing.update import push_update
from aharally.sync.records import load_one, load_record
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)

# A row waiting for its parent's create to finish looks again after this many seconds.
PARENT_WAIT_SECONDS = 1.0


# -- the entry point --------------------------------------------------------------------------


def push_row(row: OutboxItem, run: DrainRun) -> None:
    """Send one claimed row and write its outcome; never raises for Rally's failures."""
    with _bound(row, run):
        send_row(row, run)


def send_row(row: OutboxItem, run: DrainRun) -> None:
    """One claimed row sent and its outcome written, in the caller's log context (a parent
    created inside a child's send goes through it too: parents.py)."""
    integration = _integration_of(row, run)
    with _outcome_written(row, run, integration):
        if row.kind == OutboxKind.CREATE:
            push_create(row, run, integration=integration)
        elif row.kind == OutboxKind.LINK:
            push_link(row, run, integration=integration)
        elif row.kind in DISCUSSION_KINDS:
            push_item(row, run, integration=integration)
        else:
            push_update(row, run, integration=integration, send_row=send_row)


def _integration_of(row: OutboxItem, run: DrainRun) -> Integration:
    return row.integration if row.integration_id != run.integration.pk else run.integration


@contextmanager
def _outcome_written(row: OutboxItem, run: DrainRun, integration: Integration) -> Iterator[None]:
    """Whatever stops the row's send, its outcome is written: it never raises."""
    try:
        yield
    except Deferred as deferred:
        attempts.defer(row, seconds=deferred.seconds or PARENT_WAIT_SECONDS)
    except ParentFailed as problem:
        attempts.fail(row, kind=problem.kind, message=problem.message)
    except RallyError as error:
        _failed(row, run, error, integration=integration)
    except Exception:
        logger.exception("Sending outbox row %s failed unexpectedly", row.pk)
        attempts.retry_later(
            row,
            kind=ErrorKind.TRANSIENT,
            message="An unexpected error stopped the send; it will be tried again.",
            look_before_send=(
                row.kind in LOOK_AFTER_LOST_ANSWER and row.first_attempt_at is not None
            ),
        )


# -- a create split across threads (the drain's bulk sends) -------------------------------------


def begin_row(row: OutboxItem, run: DrainRun) -> Callable[[], object] | None:
    """On the drain's own thread: what a pool thread does for the row, or None when its
    outcome is written already.

    A create that needs nothing more from Rally than its own request is prepared here, and
    only its request goes to the pool (`Create.request`; `finish_row` writes what follows on
    this thread again). Every connection to SQLite rereads the pages another connection
    wrote, so a bulk send's reads and writes on this one cost about a tenth less CPU an
    object than spread across eighteen threads. Any other row, or a create that waits on
    Rally first (its parent to create, a look-up to read), is sent whole in the pool.
    """
    if row.kind != OutboxKind.CREATE or row.look_before_send:
        return functools.partial(push_row, row, run)
    integration = _integration_of(row, run)
    with _bound(row, run), _outcome_written(row, run, integration):
        try:
            with no_requests():
                return prepare_create(row, run, integration=integration, whole=False)
        except (SendWhole, RequestsNotHere):
            return functools.partial(push_row, row, run)  # nothing of the row written yet
    return None


def finish_row(work, future) -> Callable[[], object] | None:
    """On the drain's own thread, once `work` (from `begin_row`) is done: a create's link and
    what follows it. Returns what a pool thread does next, if anything (a refused create
    tried once more, which waits on Rally)."""
    if not isinstance(work, Create):
        return None  # a whole row wrote its own outcome
    row, run = work.row, work.run
    with _bound(row, run), _outcome_written(row, run, work.integration):
        try:
            created = future.result()
        except (RallyValidationError, RallyNotFound) as refused:
            return functools.partial(_request_again, work, refused)
        work.finish(created)
    return None


def _request_again(create: Create, refused: RallyError) -> None:
    row, run = create.row, create.run
    with _bound(row, run), _outcome_written(row, run, create.integration):
        created = create.request_again(refused)
        if created is not None:
            create.finish(created)


def _bound(row: OutboxItem, run: DrainRun):
    # The drain's threads inherit no context: the lines name the row.
    return logcontext.bound(
        request_id=run.request_id,
        integration_id=row.integration_id,
        record=f"{row.record_type}:{row.record_id}",
    )


def _failed(row: OutboxItem, run: DrainRun, error: RallyError, *, integration) -> None:
    reference = _reference(row)
    if isinstance(error, RallyAuthError):
        with run.lock:
            first = not run.paused
            run.paused = True
        if first:  # one failing request marks the integration; the rest just wait
            explain(integration, error, doing=f"send {reference}")
        attempts.pause_for_auth(row, message="Rally refused the credential: re-authorize.")
        return
    if isinstance(error, RallyOutcomeUnknown):
        attempts.retry_later(
            row,
            kind=ErrorKind.OUTCOME_UNKNOWN,
            message="Rally's answer was lost; Rally is checked before it is sent again.",
            look_before_send=row.kind in LOOK_AFTER_LOST_ANSWER,
        )
        return
    if isinstance(error, RallyThrottled | RallyTransientError | RallyConcurrencyConflict):
        kind = ErrorKind.THROTTLED if isinstance(error, RallyThrottled) else ErrorKind.TRANSIENT
        attempts.retry_later(
            row,
            kind=kind,
            message=error.message,
            retry_after=getattr(error, "retry_after", None),
            # The client raises these for a write only when it surely was not applied.
            look_before_send=False if row.attempts <= 1 else None,
        )
        return
    if isinstance(error, RallyNotFound) and row.kind == OutboxKind.UPDATE:
        Link.objects.filter(
            integration_id=row.integration_id, record_type=row.record_type, record_id=row.record_id
        ).update(state=LinkState.BROKEN, state_reason="Rally no longer has this record.")
        attempts.fail(
            row, kind=ErrorKind.NOT_FOUND, message=f"Rally no longer has {reference}'s record."
        )
        return
    kind = ErrorKind.CONFIG if isinstance(error, RallyConfigError) else ErrorKind.VALIDATION
    message = f"Rally refused {reference}: " + "; ".join(error.messages)
    attempts.fail(row, kind=kind, message=message)

    record_failure(
        integration,
        message,
        "Correct the record (it is sent again once it changes) or the field mappings.",
    )


def _reference(row: OutboxItem) -> str:
    if row.kind in DISCUSSION_KINDS:
        return f"a {row.kind} on {row.values.get('record_type', 'a record')}"
    record = load_record(row.record_type, row.record_id)
    return record.reference if record is not None else f"{row.record_type} {row.record_id}"


# -- creates ------------------------------------------------------------------------------------


def push_create(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    create = prepare_create(row, run, integration=integration)
    if create is None:
        return
    try:
        created = create.request()
    except (RallyValidationError, RallyNotFound) as refused:
        created = create.request_again(refused)
        if created is None:
            return
    create.finish(created)


class SendWhole(Exception):
    """`prepare_create` on the drain's own thread met work that waits on Rally (a parent to
    create first, a look-up to read): the row goes to a pool thread whole instead."""


@dataclass
class Create:
    """A create made ready (the record read, its payload built, the mark written before the
    request), its request, and what follows the answer. The parts may run on different
    threads: the drain prepares and finishes a bulk send's creates on its own thread and one
    database connection, and only the request waits in a pool thread (`drain.py`)."""

    row: OutboxItem
    run: DrainRun
    integration: Integration
    record: object
    record_mapping: object
    fields: Callable[[], tuple]
    values: dict
    payload: dict
    parents: dict
    stamp: int
    rank: tuple[str, str] | None
    placed_later: bool
    broken_here: bool

    def __call__(self):
        return self.request()  # what a pool thread does for it (`begin_row`)

    def request(self):
        """The create itself, one request; any thread."""
        return self.run.client.create(
            self.record_mapping.rally_type,
            self.payload,
            fetch=["ObjectID", "FormattedID"],
            rank=self.rank,
        )

    def request_again(self, refused: RallyError):
        """Refused, maybe for a state or person kept from an earlier drain that Rally no
        longer has ("Cannot find object to read"): read them again and try once more
        (nothing was created). None when the row failed here; raises `refused` when trying
        again cannot help."""
        row, run = self.row, self.run
        if not run.lookups.refresh(self.stamp) and self.rank is None:
            raise refused
        self.rank = None  # the sibling it was ranked beside may be what Rally no longer has
        self.values, self.payload, missing = self.fields()
        if missing:
            attempts.fail(row, kind=ErrorKind.REQUIRED, message=missing)
            return None
        row.sent_values = {**self.values, "_parents": row.sent_values["_parents"]}
        OutboxItem.objects.filter(pk=row.pk, claim_token=row.claim_token).update(
            sent_values=row.sent_values
        )
        return self.request()

    def finish(self, created) -> None:
        """The link and what follows it, written once Rally answered."""
        row, record = self.row, self.record
        link = _store_link(
            row, self.run, record, self.record_mapping, created, self.values, self.integration,
            replace_broken=self.broken_here, parents=self.parents,
        )  # fmt: skip
        if self.placed_later and "rank" in self.values and isinstance(link, Link):
            self.run.to_place(row.record_type, record.pk)  # placed when the drain ends


def prepare_create(
    row: OutboxItem, run: DrainRun, *, integration: Integration, whole: bool = True
) -> Create | None:
    """Everything a create does before its request; None when the row's outcome is written
    already (linked, adopted, refused here). Not `whole` (the drain's own thread), raises
    `SendWhole` before writing anything when a parent must be created first."""
    # Whether the record is linked into this Rally already (any integration) is read with the
    # record itself, right before the create: one query, not two.
    record = load_one(
        row.record_type, row.record_id, **links.checks_of_record(integration, row.record_type)
    )
    if record is None:
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record was deleted in aharally.")
        return None
    broken_here = record.broken_here
    existing = None
    if record.linked_on_site:
        existing = links.link_of_record(links.site_of(integration), row.record_type, record.pk)
    if existing is not None:
        # Linked already (maybe through another integration on this Rally): one Rally object
        # per record, so nothing is created.
        attempts.finish(row, sent_values={})
        if existing.integration_id == integration.pk:
            _after_create(row, run, record=record, link=existing, integration=integration)
        else:
            history.note(
                row,
                ActivityAction.SKIPPED,
                f"Not sent: linked to {existing.label} through "
                f"“{existing.integration.name}” already.",
            )
        return None
    config = run.config_for(integration)
    record_mapping = config.mapping_for(row.record_type)
    if record_mapping is None:
        attempts.fail(
            row,
            kind=ErrorKind.CONFIG,
            message=f"{RecordType(row.record_type).label}s are no longer mapped to Rally.",
        )
        return None
    # What Rally requires is checked first, with refs standing for the parents, so a record
    # Rally would refuse creates no parent either (the preview checks the same way).
    planned = plan_parents_of(record, row.record_type, run, integration=integration)
    if not whole and any(one.where is not None and one.link is None for one in planned):
        raise SendWhole
    parents = placeholder_refs(planned, config)

    def fields():
        return payload_for_create(record, record_mapping, run, config=config, parents=parents)

    stamp = run.lookups.stamp()
    values, payload, missing = fields()
    if missing and run.lookups.refresh(stamp):
        # Kept from an earlier drain: Rally may have dropped that requirement since.
        stamp = run.lookups.stamp()
        values, payload, missing = fields()
    if missing:
        attempts.fail(row, kind=ErrorKind.REQUIRED, message=missing)
        return None
    parents = resolve_parents(
        record, row, run, integration=integration, send_row=send_row, planned=planned
    )
    payload.update(parents)
    if row.look_before_send:
        found = find_lost_create(row, run, record_mapping=record_mapping, integration=integration)
        if found is not None:
            # Rally holds what the lost attempt sent; a change made since goes out after.
            sent = {k: v for k, v in row.sent_values.items() if not k.startswith("_")} or values
            _store_link(
                row,
                run,
                record,
                record_mapping,
                found,
                sent,
                integration,
                adopted=values,
                replace_broken=broken_here,
                reparent=lost_parent(found, row.sent_values.get("_parents", {})),
            )
            return None
    # Written before the request: if the answer (or this worker) is lost, the next attempt
    # looks in Rally first.
    now = timezone.now()
    row.first_attempt_at = row.first_attempt_at or now
    row.attempts += 1
    row.sent_values = {**values, "_parents": {k: v.path for k, v in parents.items()}}
    update_where(
        OutboxItem,
        {"id": row.pk, "claim_token": row.claim_token},
        first_attempt_at=row.first_attempt_at,
        attempts=row.attempts,
        look_before_send=True,
        sent_values=row.sent_values,
    )
    # Its place among the siblings already in Rally. A bulk send's rows, and a feature's
    # requirements, go out a dozen at a time: their siblings may still be on the way, so the
    # drain places them once they are all in (`ranking.place_created`).
    rank = None
    placed_later = row.job_id is not None or row.from_parent
    if "rank" in values and not placed_later:
        rank = rank_parameter(record, row.record_type, integration.pk)
    return Create(
        row=row, run=run, integration=integration, record=record,
        record_mapping=record_mapping, fields=fields, values=values, payload=payload,
        parents=parents, stamp=stamp, rank=rank, placed_later=placed_later,
        broken_here=broken_here,
    )  # fmt: skip


def _store_link(
    row, run, record, record_mapping, created, values, integration, *, adopted=None,
    replace_broken=True, reparent=False, parents=None,
):  # fmt: skip
    """Record the link, finish the row and queue what follows it, in one transaction.

    `values` are what Rally's object holds (the baseline); `parents`, the refs the create
    gave it, join the baseline as an update's do ("_Parent"…), so a later update sends a
    parent only when it changed. An adopted object was made by an
    earlier attempt: `adopted` are the record's values now, and those changed since that
    attempt are queued as an update in the same transaction, never taken as sent; with
    `reparent` (Rally emptied a parent it deleted since), its parents go out with it.
    """

    def finish(link: Link) -> None:
        attempts.finish(row, sent_values=values)
        if adopted is not None:
            _queue_changed_since(
                row, integration, record, sent=values, now=adopted, reparent=reparent
            )
        action = ActivityAction.ADOPTED if adopted is not None else ActivityAction.CREATED
        history.note(
            row,
            action,
            f"{link.label} in Rally",
            user_id=row.decided_by_id or row.created_by_id,
        )
        _first_sent(run, integration)
        # Its comments and files from before follow it (sync/outgoing/discussion.py).
        queue_existing(record=record, link=link, integration=integration, run=run)
        # A feature's requirements follow it, their rows written with its link.
        _after_create(row, run, record=record, link=link, integration=integration)

    try:
        link = links.create_link(
            integration=integration,
            record_type=row.record_type,
            record_id=record.pk,
            rally_type=record_mapping.rally_type,
            rally_oid=created.object_id,
            formatted_id=created.formatted_id or "",
            baseline={
                **values,
                **{f"_{attribute}": ref.path for attribute, ref in (parents or {}).items()},
            },
            rally_version=links.version_of(created),
            linked_by_id=row.created_by_id,
            then=finish,
            replace_broken=replace_broken,
        )
    except links.AlreadyLinked as taken:
        return _linked_meanwhile(row, run, record, record_mapping, created, taken)
    run.made_link(link)
    return link


def _first_sent(run: DrainRun, integration: Integration) -> None:
    """The integration's first send is stamped once, not on every object (the catch-up
    starts from it)."""
    if integration.pk in run.stamped or (
        integration.first_sent_at and integration.source.first_sent_at
    ):
        return
    Integration.objects.filter(
        pk__in={integration.pk, integration.source.pk}, first_sent_at__isnull=True
    ).update(first_sent_at=timezone.now())
    transaction.on_commit(lambda: run.stamped.add(integration.pk))


def _queue_changed_since(row, integration, record, *, sent: dict, now: dict, reparent) -> None:
    changed = set(mapping.changed_fields(now, sent))
    if reparent:
        changed |= {relation for relation, _ in mapping.PARENT_FIELDS[row.record_type]}
    if changed:
        outbox.write_row(
            integration=integration,
            record_type=row.record_type,
            record_id=record.pk,
            kind=OutboxKind.UPDATE,
            fields=changed,
            user=row.created_by,
            state=OutboxState.QUEUED,
        )


def _linked_meanwhile(row, run, record, record_mapping, created, taken: links.AlreadyLinked):
    """The create happened, but the record or the object got linked by another path
    meanwhile: never leave an orphan behind in Rally."""
    held = taken.by_record
    if held is not None and held.rally_oid == created.object_id:
        attempts.finish(row, sent_values={})  # the same object, linked by the other path
        return None
    if held is not None:
        # The record is linked to another Rally object now: the one this send made is extra.
        try:
            run.client.delete(f"/{record_mapping.rally_type.lower()}/{created.object_id}")
        except RallyError as error:
            message = (
                f"{record.reference} was linked to {held.label} meanwhile; the "
                f"{created.label} this send made could not be deleted in Rally "
                f"({error.message}): delete it there."
            )
            attempts.fail(row, kind=ErrorKind.CONFIG, message=message)
            return None
        attempts.finish(row, sent_values={})
        history.note(
            row,
            ActivityAction.SKIPPED,
            f"{record.reference} was linked to {held.label} meanwhile: the "
            f"{created.label} this send made was deleted in Rally.",
        )
        return None
    other = load_record(taken.by_object.record_type, taken.by_object.record_id)
    attempts.fail(
        row,
        kind=ErrorKind.CONFIG,
        message=(
            f"Rally's {created.label}, made for {record.reference}, is linked to "
            f"{getattr(other, 'reference', 'another record')} through "
            f"“{taken.by_object.integration.name}”: unlink one of them."
        ),
    )
    logger.error("Outbox row %s: its Rally object is linked to another record", row.pk)
    return None


def _after_create(row, run, *, record, link, integration) -> None:
    """A created feature's requirements follow it (when the row says so)."""
    if row.cascade and row.record_type == RecordType.FEATURE:
        follow_feature(row, run, feature=record, integration=integration)


def mark_success(run: DrainRun) -> None:
    if run.sent:
        record_success(run.integration)
