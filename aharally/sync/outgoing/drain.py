"""Draining one integration's outbox in the task cluster, a dozen requests at a time.

One drainer per integration at a time, whichever cluster it runs in (a `DrainLease` that
expires unless renewed, so a killed worker's lease is taken over; a drain that finds its lease
taken over stops claiming); inside it, a thread pool half again as wide as Rally's per-user
limit sends rows concurrently, each request holding one of the credential's slots shared by
every process (aharally.concurrency), so a catch-up or a webhook registration elsewhere never
makes it 13. A create that needs nothing from Rally but its own request (a bulk send's, a
feature's requirements) is read, marked and finished on the drain's own thread, on its one
database connection, and only the request waits in the pool (`push.begin_rows`); any other row
goes to the pool whole, where the spare threads write its outcome and build the next ones:
the twelve places stay taken whenever rows are queued.
A drain returns when nothing is due (waiting a little for rows due soon), when its time budget
is spent or its cluster is stopping (it enqueues its successor, which another cluster takes),
or when the credential is refused (the rest of the outbox waits for re-authorization). Rows it
claimed and had not started are given back at once; rows it is sending are finished.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.db.models import Min
from django.utils import timezone

from aharally.concurrency import slots, stopping
from aharally.integrations.connection import RallyProblem, client_for, explain, ready_to_sync
from aharally.integrations.log import record_failure
from aharally.integrations.rally_metadata import MetadataCache
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import RallyAuthError, RallyError
from aharally.rally.transport import RALLY_CONCURRENCY_PER_USER
from aharally.records.models import Requirement
from aharally.sync import enqueue, mapping
from aharally.sync.leases import Lease
from aharally.sync.models import DrainLease, ErrorKind, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.cascade import follows_features
from aharally.sync.outgoing.lookups import Lookups
from aharally.sync.outgoing.push import (
    begin_rows,
    finish_answered,
    finish_row,
    mark_success,
    push_row,
)
from aharally.sync.outgoing.run import DrainRun
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)

# How long a drain with sends under way waits to claim again after finding nothing due.
EMPTY_CLAIM_PAUSE_SECONDS = 0.05
# … and this long while none of its sends finishes.
QUIET_CLAIM_SECONDS = 1.0
# Threads beyond the requests in flight (a share of `width`): a row sent whole runs its SQL
# before and after its request while the other threads' requests hold every slot, so no slot
# waits idle for it. The transport's cap keeps requests at `width` whatever the threads.
SPARE_THREADS_SHARE = 0.5
# Creates Rally answered wait this long at most for others to be written with (one
# transaction for their links, `push.finish_answered`); never while nothing else is sent, so
# a Send alone is linked at once. At Rally's pace (a dozen requests of about a second each)
# half a second gathers half a dozen answers; 50 ms gathered one or two, each batch's
# statements then costing nearly what one create's did.
FINISH_TOGETHER_SECONDS = 0.5


def next_due(integration_id: int):
    return OutboxItem.objects.filter(
        integration_id=integration_id, state=OutboxState.QUEUED
    ).aggregate(due=Min("not_before"))["due"]


def has_ready(integration_id: int) -> bool:
    return OutboxItem.objects.filter(
        attempts.ready_q(timezone.now()), integration_id=integration_id
    ).exists()


def _in_thread(run: DrainRun, work, *args, **kwargs):
    # Each pool thread keeps its own connection for the whole drain (opening one a row cost a
    # connect and its set-up statements); the drain closes them once its threads are done.
    with run.lock:
        run.connections.add(connections[DEFAULT_DB_ALIAS])
    return work(*args, **kwargs)


def _close_thread_connections(run: DrainRun) -> None:
    """Close the connections the pool's threads opened; called after those threads ended."""
    for opened in run.connections:
        opened.inc_thread_sharing()  # its thread is gone: this one may close it
        try:
            opened.close()
        finally:
            opened.dec_thread_sharing()
    run.connections.clear()


def drain_outbox(integration_id: int, unplaced: list | None = None) -> dict:
    """Send every due row of the integration; returns what happened (for logs and tests).

    `unplaced`: what the drains before this one of the same send created and left to be
    placed in Rally's rank once the send is all in ((record type, id) pairs)."""
    carried = [(record_type, record_id) for record_type, record_id in unplaced or ()]
    integration, why_not = ready_to_sync(integration_id)
    if integration is None:
        return {"sent": 0, "reason": why_not}
    if stopping.stop_requested():
        # Taken from the queue as the cluster stops: leave it to a cluster that goes on.
        if has_ready(integration_id):
            _hand_over(integration_id, carried)
        else:
            _place_in_rank(integration_id, carried)
        return {"sent": 0, "reason": "the cluster is stopping"}
    lease = Lease(DrainLease, integration_id)
    if not lease.take():
        _place_in_rank(integration_id, carried)  # the drain under way places its own
        return {"sent": 0, "reason": "another drain holds the lease"}
    started = time.monotonic()
    budget = settings.SYNC_DRAIN_BUDGET_SECONDS
    try:
        outbox.reclaim_stuck(integration_id=integration_id)
        try:
            client = client_for(integration, interactive=False)
        except RallyProblem as problem:
            record_failure(integration, problem.message)
            _hold_all(integration_id, problem.message)
            return {"sent": 0, "reason": problem.message}
        config = effective_config(integration)
        run = DrainRun(
            integration=integration,
            config=config,
            client=client,
            lookups=Lookups(client, kept=MetadataCache.of(integration, config)),
            unplaced=carried,
        )
        width = min(settings.SYNC_CONCURRENCY, RALLY_CONCURRENCY_PER_USER)
        threads = width + max(1, int(width * SPARE_THREADS_SHARE))
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="push") as pool:
                _pipeline(
                    run, pool, width=width, threads=threads, lease=lease, started=started,
                    budget=budget,
                )  # fmt: skip
        finally:
            _close_thread_connections(run)
        client.close()
        mark_success(run)
    finally:
        lease.give_back()
        slots.give_back_idle()  # kept for the next row: there is none
        close_old_connections()
    if run.paused:
        return {"sent": run.sent, "paused": True}
    # Out of time, or stopping with rows given back: the successor may run in any cluster,
    # and places what this one created with its own, once the send is all in.
    if has_ready(integration_id) or time.monotonic() - started >= budget:
        _hand_over(integration_id, run.unplaced)
    else:
        _place_in_rank(integration_id, run.unplaced)
    return {"sent": run.sent, "paused": False}


def _place_in_rank(integration_id: int, unplaced: list) -> None:
    """A bulk send's new objects take their places in Rally's rank once they are all in: a
    task of its own (`ranking.place_created`), so the moves never hold up the next sends.
    A drain that hands over carries them to its successor instead: placed at a hand-over, a
    long send's first objects were read and moved while the send went on, the task taking
    the worker its successor needed (30 s of nothing sent in a 1,200-object send)."""
    if unplaced:
        enqueue.enqueue(enqueue.PLACE_IN_RANK, integration_id, [list(r) for r in unplaced])


def _hand_over(integration_id: int, unplaced: list) -> None:
    enqueue.enqueue_drain(integration_id, unplaced=[list(r) for r in unplaced])


def _pipeline(
    run: DrainRun, pool, *, width: int, threads: int, lease: Lease, started: float, budget: float
):
    """Keep `width` requests in flight: claim more as sends finish, not batch by batch (a
    slow request would hold up a whole batch), a batch ahead of the threads so none waits
    for a claim. A claimed row is begun (`push.begin_rows`: a create's record read, its
    payload built and its mark written) only when a thread is free for it, right before its
    request, as a thread would read it: never left waiting with what it read while others
    are sent. While every slot has a request, rows are begun a few together, once the spare
    threads are free (a query and a transaction for them all); the requests begun before
    them keep the slots busy meanwhile. The creates Rally answered are written a few
    together too (`push.finish_answered`), each within `FINISH_TOGETHER_SECONDS` of its
    answer."""
    integration_id = run.integration.pk
    ready: deque[OutboxItem] = deque()  # claimed, not begun yet
    pending: dict = {}  # future → its row
    work_of: dict = {}  # future → what its thread does (push.begin_rows), finished here
    answered: list = []  # (create, Rally's answer), their links not written yet
    answered_at = 0.0  # when the first of them was answered
    # Each send's future, as it finishes: waiting on this queue costs the same however many
    # sends are pending (`concurrent.futures.wait` hooks into each of them on every call).
    sent: SimpleQueue = SimpleQueue()

    def submit(row: OutboxItem, work) -> None:
        future = pool.submit(_in_thread, run, work)
        pending[future] = row
        work_of[future] = work
        future.add_done_callback(sent.put)

    def begin_ready() -> None:
        free = threads - len(pending)
        if not ready or run.paused or free <= 0:
            return
        if len(pending) >= width and free < threads - width:
            return  # every slot has a request: begin a few together once more threads are free
        for row, work in begin_rows([ready.popleft() for _ in range(min(free, len(ready)))], run):
            submit(row, work)

    def finish(future) -> None:
        nonlocal answered_at
        row, work = pending.pop(future), work_of.pop(future)
        if not answered:
            answered_at = time.monotonic()
        follow = finish_row(work, future, answered)
        if follow is not None:
            submit(row, follow)

    def write_answered(*, now: bool = False) -> None:
        if answered and (
            now
            or not pending
            or len(answered) >= width
            or time.monotonic() - answered_at >= FINISH_TOGETHER_SECONDS
        ):
            finish_answered(answered)

    renewed = time.monotonic()
    # After a claim that emptied the queue, while sends are under way, the next waits for one of
    # them to finish (what it queued, a feature's requirements, is then due) and a little
    # more, or for a while with none finishing (rows deferred for a moment): each finished
    # send would otherwise cost an empty claim (a transaction and a query).
    empty_at: float | None = None
    finished = 0
    while not run.paused and time.monotonic() - started < budget:
        if stopping.stop_requested():
            break
        if not lease.keep():
            logger.warning("Drain of integration %s lost its lease; stopping", integration_id)
            break
        if time.monotonic() - renewed > settings.SYNC_CLAIM_TIMEOUT_SECONDS / 3:
            # Rows still being sent are not stuck: `tick` must not take them back.
            answering = [create.row for create, _answer in answered]
            attempts.still_claimed([*pending.values(), *ready, *answering])
            renewed = time.monotonic()
        now = time.monotonic()
        held = len(pending) + len(ready)
        if empty_at is None or not held:
            claim_at = now
        else:
            claim_at = empty_at + (EMPTY_CLAIM_PAUSE_SECONDS if finished else QUIET_CLAIM_SECONDS)
        if held <= threads and now >= claim_at:
            if empty_at is not None:
                write_answered(now=True)  # what they queue (a feature's requirements) is due
            limit = threads + width - held
            rows = attempts.claim_ready(integration_id=integration_id, limit=limit)
            # Fewer than asked for: the queue is empty for now, whatever this claim took.
            empty_at, finished = (now, 0) if len(rows) < limit else (None, finished)
            if rows:
                rows = _warm_up(run, rows, pool)
                if rows is None:
                    break
                ready.extend(rows)
                begin_ready()
            elif pending:
                claim_at = now + QUIET_CLAIM_SECONDS
        if pending:
            timeout = min(1.0, max(0.0, claim_at - time.monotonic())) or 1.0
            if answered:
                timeout = min(timeout, answered_at + FINISH_TOGETHER_SECONDS - time.monotonic())
            done = _finished(sent, max(0.001, timeout))
            for future in done:
                finish(future)
            begin_ready()
            write_answered()
            finished += len(done)
            continue
        if not _wait_for_due(integration_id, started, budget):
            break
    # Stopping early: what has not started goes back to the queue now, not after the
    # claim timeout; what is being sent is finished (its outcome must be written).
    unstarted = [*ready, *(row for future, row in pending.items() if future.cancel())]
    if unstarted:
        attempts.give_back(unstarted)
    while pending:
        for future in [f for f in pending if f.cancelled()]:
            pending.pop(future), work_of.pop(future)
        if pending:
            finish(next(iter(wait(list(pending), return_when=FIRST_COMPLETED).done)))
    write_answered(now=True)


def _finished(sent: SimpleQueue, timeout: float) -> list:
    """The sends that finished: waiting up to `timeout` for the first, then all there are."""
    try:
        done = [sent.get(timeout=timeout)]
    except Empty:
        return []
    while True:
        try:
            done.append(sent.get_nowait())
        except Empty:
            return done


def _warm_up(run: DrainRun, rows: list[OutboxItem], pool) -> list[OutboxItem] | None:
    """Start reading what the rows' types need, and return the rows left to send, or None
    when the drain stops.

    The first read is made alone, in this thread, so that a refused credential is one failing
    request, not a dozen: the rows go back to wait for re-authorization and the drain stops.
    The rest (the type's attributes, a portfolio item's states, the requirements' type when
    the features' requirements follow them) are read in the pool, side by side, while the
    rows queue behind them: each row waits for its own type's, not for every look-up in turn.
    When nothing needed reading (kept from an earlier drain), the first row is sent alone, in
    this thread, to the same end.
    """
    mappings = _new_types(run, rows)
    cold = [
        (rally_type, states)
        for rally_type, states in mappings
        if run.lookups.needs_rally(rally_type, states=states)
    ]
    try:
        if cold and not run.lookups.asked_rally:
            run.lookups.type_definition(cold[0][0])
    except RallyAuthError as error:
        run.paused = True
        explain(run.integration, error, doing="send records to Rally")
        for row in rows:
            attempts.pause_for_auth(row, message="Rally refused the credential: re-authorize.")
        return None
    except RallyError:
        pass  # each row meets it again and is failed or retried on its own
    for rally_type, states in cold:
        # A failure here is met again by the type's rows, each failed or retried on its own.
        pool.submit(_in_thread, run, run.lookups.warm, rally_type, states=states)
    if len(rows) > 1 and not run.lookups.asked_rally:
        first, rows = rows[0], rows[1:]
        push_row(first, run)
        run.lookups.asked_rally = True  # once a run
        if run.paused:  # the credential was refused: the others wait with it
            for row in rows:
                attempts.pause_for_auth(row, message="Rally refused the credential: re-authorize.")
            return None
    return rows


def _new_types(run: DrainRun, rows: list[OutboxItem]) -> list[tuple[str, bool]]:
    """(Rally type, whether its states are read) of the rows' record types this run has not
    warmed yet; with the first rows, the requirements' type too when created features' stories
    follow them (one query: whether those features have any)."""
    record_types = {row.record_type for row in rows if row.integration_id == run.integration.pk}
    if not run.warmed and follows_features(run.config):
        features = [
            row.record_id
            for row in rows
            if row.kind == OutboxKind.CREATE
            and row.cascade
            and row.record_type == RecordType.FEATURE
        ]
        if features and Requirement.objects.filter(feature_id__in=features).exists():
            record_types.add(RecordType.REQUIREMENT)
    found = []
    for record_type in sorted(record_types - run.warmed):
        run.warmed.add(record_type)
        record_mapping = run.config.mapping_for(record_type)
        if record_mapping is not None:
            found.append((record_mapping.rally_type, _sends_state(record_mapping)))
    return found


def _sends_state(record_mapping) -> bool:
    """Whether a create of the type sends a portfolio item's State (a ref, read from Rally)."""
    if record_mapping.status_map is None or not record_mapping.rally_type.startswith(
        "PortfolioItem"
    ):
        return False
    pairs = mapping.fields_to_send(record_mapping.field_mappings, creating=True)
    return any(field_name == "status" for field_name, _ in pairs)


def _wait_for_due(integration_id: int, started: float, budget: float) -> bool:
    """Sleep until the next queued row is due, if that is soon; False when nothing is."""
    due = next_due(integration_id)
    queued = OutboxItem.objects.filter(
        integration_id=integration_id, state=OutboxState.QUEUED
    ).exists()
    if not queued:
        return False
    wait = 0.0 if due is None else (due - timezone.now()).total_seconds()
    if wait > settings.SYNC_DRAIN_WAIT_SECONDS or time.monotonic() - started + wait > budget:
        return False
    # Never past a third of the lease: the loop renews it before the lease could run out.
    longest = min(settings.SYNC_DRAIN_WAIT_SECONDS, settings.SYNC_LEASE_SECONDS / 3)
    return not stopping.sleep(max(0.05, min(wait, longest)))


def _hold_all(integration_id: int, message: str) -> None:
    """The integration can't reach Rally at all: its due rows say why and wait."""
    OutboxItem.objects.filter(
        attempts.ready_q(timezone.now()), integration_id=integration_id
    ).update(
        error_kind=ErrorKind.CONFIG,
        error_message=message[:4000],
        not_before=timezone.now() + timedelta(seconds=settings.SYNC_MAX_BACKOFF_SECONDS),
    )
