"""django-q2 entry points of the sync: ids in, one service call; schedules declared here.

The tasks sit above the services they run (imported at the top); services ask for tasks
through `sync.enqueue`, after their transaction commits, so a worker never sees an outbox
row before the transaction that wrote it has committed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_q.models import Schedule

from aharally.integrations.connection import RallyProblem, explain
from aharally.integrations.models import Integration, IntegrationState
from aharally.observability.logcontext import bound
from aharally.rally.errors import RallyError
from aharally.sync import enqueue, people
from aharally.sync.enqueue import CATCH_UP, REGISTER_WEBHOOK, TICK, UNREGISTER_WEBHOOK
from aharally.sync.incoming import catchup, webhooks
from aharally.sync.models import DrainLease, IncomingEvent, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import attempts, drain, outbox, ranking
from aharally.sync.reconcile import compare, search
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)

TICK_SCHEDULE_NAME = "aharally.sync.tick"
CATCH_UP_SCHEDULE_NAME = "aharally.sync.catch_up"


def _an_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def process_event(event_id: int) -> dict:
    """A delivery's task as queued before deliveries coalesced (one a delivery): a backlog
    left from then asks for one catch-up, rather than running one each."""
    if not _an_id(event_id):
        logger.error("process_event needs an event id, not %r", event_id)
        return {"reason": "bad argument"}
    event = IncomingEvent.objects.filter(pk=event_id, processed_at__isnull=True).first()
    if event is None:
        return {"reason": "nothing to do"}
    return {"queued": catchup.request_catch_up(event.integration_id)}


def search_rally(search_id: int) -> dict:
    """Import from Rally's search (the page polls for its results)."""
    if not _an_id(search_id):
        logger.error("search_rally needs a search id, not %r", search_id)
        return {"reason": "bad argument"}
    return search.run_search(search_id)


def compare_with_rally(comparison_id: int) -> dict:
    """Compare with Rally's report (the page polls for it)."""
    if not _an_id(comparison_id):
        logger.error("compare_with_rally needs a comparison id, not %r", comparison_id)
        return {"reason": "bad argument"}
    return compare.run_comparison(comparison_id)


def register_webhook(integration_id: int) -> str:
    if not _an_id(integration_id):
        logger.error("register_webhook needs an integration id, not %r", integration_id)
        return "bad argument"
    with bound(integration_id=integration_id):
        return webhooks.register_webhook(integration_id)


def unregister_webhook(integration_id: int) -> None:
    integration = (
        Integration.objects.filter(pk=integration_id).first() if _an_id(integration_id) else None
    )
    if integration is not None:
        webhooks.unregister_webhook(integration)


def on_enabled(integration) -> None:
    """An integration was enabled: register its webhook, and read Rally's users for People
    now rather than at the next catch-up (in the cluster): the first send, seconds later, then
    finds the Owners (the demo's pairs among them)."""
    enqueue.enqueue(REGISTER_WEBHOOK, integration.pk)
    source = integration.source
    if people.needs_refresh(source) and people.start_reading(source):
        enqueue.enqueue(enqueue.READ_PEOPLE, source.pk)


def on_disabled(integration) -> None:
    enqueue.enqueue(UNREGISTER_WEBHOOK, integration.pk)


def on_deleting(integration) -> None:
    """About to be deleted, credentials and all: remove the webhook now, the owner waiting."""
    webhooks.unregister_webhook(integration, interactive=True)


def drain_outbox(integration_id: int, unplaced: list | None = None) -> dict:
    if not isinstance(integration_id, int) or isinstance(integration_id, bool):
        logger.error("drain_outbox needs an integration id, not %r", integration_id)
        return {"sent": 0, "reason": "bad argument"}
    if unplaced is not None and not _records(unplaced):
        logger.error("drain_outbox's records to place need [record type, id] pairs")
        unplaced = None  # the drain goes on: only their places in rank are lost
    with bound(integration_id=integration_id):
        return drain.drain_outbox(integration_id, unplaced)


def _records(records) -> bool:
    """Whether `records` are [record type, id] pairs of records a send places in rank."""
    return (
        isinstance(records, list)
        and len(records) <= 100_000
        and all(
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and pair[0] in {RecordType.FEATURE, RecordType.REQUIREMENT}
            and _an_id(pair[1])
            for pair in records
        )
    )


def place_in_rank(integration_id: int, records: list) -> dict:
    """A bulk send's new Rally objects moved to the board's order (`outgoing.ranking`)."""
    valid = _records(records)
    if not _an_id(integration_id) or not valid:
        logger.error("place_in_rank needs an integration id and [record type, id] pairs")
        return {"moved": 0, "reason": "bad argument"}
    with bound(integration_id=integration_id):
        return {"moved": ranking.place_created(integration_id, [tuple(p) for p in records])}


def read_rally_people(integration_id: int) -> dict:
    """Read the subscription's Rally users for People (a template group's map is its
    template's); a failure is kept for the page to show, and the next refresh tries again."""
    if not _an_id(integration_id):
        logger.error("read_rally_people needs an integration id, not %r", integration_id)
        return {"reason": "bad argument"}
    integration = Integration.objects.select_related("template").filter(pk=integration_id).first()
    if integration is None:
        return {"reason": "no such integration"}
    with bound(integration_id=integration_id):
        try:
            return {"read": people.read_people(integration)}
        except RallyError as error:
            message = explain(integration, error, doing="read Rally's users").message
        except RallyProblem as error:
            message = error.message
        people.reading_failed(integration, message)
        return {"reason": message}


def pull_updates(integration_id: int) -> dict:
    """The catch-up (`sync.incoming.catchup`): what changed in Rally, and the deliveries it
    covers."""
    if not isinstance(integration_id, int) or isinstance(integration_id, bool):
        logger.error("pull_updates needs an integration id, not %r", integration_id)
        return {"applied": 0, "reason": "bad argument"}
    with bound(integration_id=integration_id):
        return catchup.run_catch_up(integration_id)


def catch_up() -> list[int]:
    """Every period: a catch-up for each enabled integration that has linked records (none is
    queued for one whose catch-up already waits in the queue)."""
    # Asked of the integrations, not of their links: a link each would be read every minute.
    ids = list(
        Integration.objects.filter(
            Exists(Link.objects.filter(integration=OuterRef("pk"))),
            state=IntegrationState.ENABLED,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for integration_id in ids:
        catchup.request_catch_up(integration_id)
    _refresh_people()
    return ids


def _refresh_people() -> None:
    """Once a day, each enabled integration's map of people is read again (a template
    group's once: it is its template's)."""
    enabled = Integration.objects.filter(state=IntegrationState.ENABLED).select_related("template")
    for source in {integration.source for integration in enabled}:
        if people.needs_refresh(source) and people.start_reading(source):
            enqueue.enqueue(enqueue.READ_PEOPLE, source.pk)


def tick() -> dict:
    """Every minute: reclaim rows left in flight, and drain integrations with due rows."""
    reclaimed = outbox.reclaim_stuck()
    now = timezone.now()
    # A drain under way (its lease renewed) claims its due rows itself; another would only
    # find the lease taken. A drain that died leaves its lease to expire, then is drained.
    draining = DrainLease.objects.filter(
        integration_id=OuterRef("integration_id"), expires_at__gt=now
    ).exclude(holder="")
    due = (
        OutboxItem.objects.filter(attempts.ready_q(now))
        .filter(integration__state=IntegrationState.ENABLED)
        .exclude(Exists(draining))
        .values_list("integration_id", flat=True)
        .distinct()
    )
    ids = sorted(set(due))
    for integration_id in ids:
        enqueue.enqueue_drain(integration_id)
    return {"reclaimed": reclaimed, "drained": ids}


def resume_after_authorization(integration) -> None:
    """Re-authorized: the rows that waited for a credential go out now (this integration and
    those built on it, which share its credential)."""
    ids = [
        integration.pk,
        *Integration.objects.filter(template=integration).values_list("pk", flat=True),
    ]
    waiting = OutboxItem.objects.filter(integration_id__in=ids, state=OutboxState.QUEUED)
    for integration_id in sorted(set(waiting.values_list("integration_id", flat=True))):
        enqueue.enqueue_drain(integration_id)


def ensure_schedules(**_kwargs) -> None:
    """Create the sync's schedules once (run after migrate); idempotent."""
    Schedule.objects.update_or_create(
        name=TICK_SCHEDULE_NAME,
        defaults={
            "func": TICK,
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.SYNC_TICK_MINUTES,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=CATCH_UP_SCHEDULE_NAME,
        defaults={
            "func": CATCH_UP,
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.SYNC_PULL_MINUTES,
            "repeats": -1,
        },
    )
