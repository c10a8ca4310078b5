"""Sending one claimed outbox row to Rally (a create, an update, a link, a comment or file)
and writing its outcome, whatever stops it; and a create split across the drain's threads.

Each kind's send lives in its own module (`create`, `update`, `linking`, `discussion`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
from aharally.sync.models import (
    DISCUSSION_KINDS,
    ErrorKind,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
)
from aharally.sync.outgoing import attempts
from aharally.sync.outgoing.create import (
    Create,
    SendWhole,
    finish_together,
    prepare_create,
    push_create,
    read_records,
    write_marks,
)
from aharally.sync.outgoing.discussion import LOOK_AFTER_LOST_ANSWER, push_item
from aharally.sync.outgoing.linking import push_link
from aharally.sync.outgoing.parents import ParentFailed
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.sync.outgoing.update import push_update
from aharally.sync.records import load_record

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
            push_create(row, run, integration=integration, send_row=send_row)
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


def begin_rows(rows: list[OutboxItem], run: DrainRun) -> list[tuple[OutboxItem, Callable]]:
    """On the drain's own thread: what a pool thread does for each row, with its row (none
    for a row whose outcome is written already).

    A create that needs nothing more from Rally than its own request is prepared here, and
    only its request goes to the pool (`Create.request`; `finish_row` takes its answer on
    this thread again). Every connection to SQLite rereads the pages another connection
    wrote, so a bulk send's reads and writes on this one cost about a tenth less CPU an
    object than spread across eighteen threads; begun a few together, their records are read
    in one query and their marks written in one transaction. Any other row, or a create that
    waits on Rally first (its parent to create, a look-up to read), is sent whole in the pool.
    """
    split = [row for row in rows if row.kind == OutboxKind.CREATE and not row.look_before_send]
    integrations = {row.integration_id: _integration_of(row, run) for row in split}
    try:
        records = read_records(split, integrations) if split else {}
    except Exception:
        # Each reads its own, where a failure is written as that row's outcome.
        logger.info("%s records read one by one", len(split), exc_info=True)
        records = None
    split_ids = {row.pk for row in split}
    begun, creates = [], []
    for row in rows:
        if row.pk in split_ids:
            work = _begin_create(row, run, integrations[row.integration_id], records)
        else:
            work = functools.partial(push_row, row, run)
        if isinstance(work, Create):
            creates.append(work)
        elif work is not None:
            begun.append((row, work))
    return begun + [(create.row, create) for create in _marked(creates)]


def _begin_create(row: OutboxItem, run: DrainRun, integration, records: dict | None):
    with _bound(row, run), _outcome_written(row, run, integration):
        try:
            with no_requests():
                return prepare_create(
                    row, run, integration=integration, send_row=send_row, whole=False,
                    records=records,
                )  # fmt: skip
        except (SendWhole, RequestsNotHere):
            return functools.partial(push_row, row, run)  # nothing of the row written yet
    return None


def _marked(creates: list[Create]) -> list[Create]:
    """The creates whose marks are written (`create.write_marks`), all together or, when that
    fails, each on its own: one that can't be marked is not sent (its outcome says why)."""
    if not creates:
        return []
    try:
        write_marks(creates)
        return creates
    except Exception:
        logger.info("%s marks written one by one", len(creates), exc_info=True)
    marked = []
    for create in creates:
        with (
            _bound(create.row, create.run),
            _outcome_written(create.row, create.run, create.integration),
        ):
            write_marks([create])
            marked.append(create)
    return marked


def finish_row(work, future, answered: list) -> Callable[[], object] | None:
    """On the drain's own thread, once `work` (from `begin_rows`) is done: a create Rally
    answered joins `answered`, whose links `finish_answered` writes together; its failure is
    written here. Returns what a pool thread does next, if anything (a refused create tried
    once more, which waits on Rally)."""
    if not isinstance(work, Create):
        return None  # a whole row wrote its own outcome
    row, run = work.row, work.run
    with _bound(row, run), _outcome_written(row, run, work.integration):
        try:
            answered.append((work, future.result()))
        except (RallyValidationError, RallyNotFound) as refused:
            return functools.partial(_request_again, work, refused)
    return None


def finish_answered(answered: list) -> None:
    """On the drain's own thread: the links of creates Rally answered (`finish_row`) and what
    follows them, in one transaction (`create.finish_together`), or one by one where they
    can't be; `answered` is emptied."""
    taken = answered[:]
    answered.clear()
    for create, created in finish_together(taken):
        with (
            _bound(create.row, create.run),
            _outcome_written(create.row, create.run, create.integration),
        ):
            create.finish(created)


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


def mark_success(run: DrainRun) -> None:
    if run.sent:
        record_success(run.integration)
