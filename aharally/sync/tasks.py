"""django-q2 entry points of the sync: ids in, one service call; schedules declared here.

Tasks are enqueued with `enqueue_drain` from `transaction.on_commit`, so a worker never sees
an outbox row before the transaction that wrote it has committed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from aharally.ops.logcontext import bound

logger = logging.getLogger(__name__)

DRAIN = "aharally.sync.tasks.drain_outbox"
TICK = "aharally.sync.tasks.tick"
TICK_SCHEDULE_NAME = "aharally.sync.tick"
PULL = "aharally.sync.tasks.pull_updates"
CATCH_UP = "aharally.sync.tasks.catch_up"
CATCH_UP_SCHEDULE_NAME = "aharally.sync.catch_up"
PROCESS_EVENT = "aharally.sync.tasks.process_event"
REGISTER_WEBHOOK = "aharally.sync.tasks.register_webhook"
SEARCH = "aharally.sync.tasks.search_rally"
COMPARE = "aharally.sync.tasks.compare_with_rally"


def _an_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def process_event(event_id: int) -> dict:
    """A delivery's task as queued before deliveries coalesced (one a delivery): a backlog
    left from then asks for one catch-up, rather than running one each."""
    from aharally.sync.catchup import request_catch_up
    from aharally.sync.models import IncomingEvent

    if not _an_id(event_id):
        logger.error("process_event needs an event id, not %r", event_id)
        return {"reason": "bad argument"}
    event = IncomingEvent.objects.filter(pk=event_id, processed_at__isnull=True).first()
    if event is None:
        return {"reason": "nothing to do"}
    return {"queued": request_catch_up(event.integration_id)}


def search_rally(search_id: int) -> dict:
    """Import from Rally's search (the page polls for its results)."""
    from aharally.sync.search import run_search

    if not _an_id(search_id):
        logger.error("search_rally needs a search id, not %r", search_id)
        return {"reason": "bad argument"}
    return run_search(search_id)


def compare_with_rally(comparison_id: int) -> dict:
    """Compare with Rally's report (the page polls for it)."""
    from aharally.sync.compare import run_comparison

    if not _an_id(comparison_id):
        logger.error("compare_with_rally needs a comparison id, not %r", comparison_id)
        return {"reason": "bad argument"}
    return run_comparison(comparison_id)


def register_webhook(integration_id: int) -> str:
    from aharally.sync.webhooks import register_webhook as register

    if not _an_id(integration_id):
        logger.error("register_webhook needs an integration id, not %r", integration_id)
        return "bad argument"
    with bound(integration_id=integration_id):
        return register(integration_id)


def unregister_webhook(integration_id: int) -> None:
    from aharally.integrations.models import Integration
    from aharally.sync.webhooks import unregister_webhook as unregister

    integration = (
        Integration.objects.filter(pk=integration_id).first() if _an_id(integration_id) else None
    )
    if integration is not None:
        unregister(integration)


def on_enabled(integration) -> None:
    """An integration was enabled: register its webhook (in the cluster)."""
    from django_q.tasks import async_task

    async_task(REGISTER_WEBHOOK, integration.pk)


def on_disabled(integration) -> None:
    from django_q.tasks import async_task

    async_task("aharally.sync.tasks.unregister_webhook", integration.pk)


def on_deleting(integration) -> None:
    """About to be deleted, credentials and all: remove the webhook now, the owner waiting."""
    from aharally.sync.webhooks import unregister_webhook as unregister

    unregister(integration, interactive=True)


def drain_outbox(integration_id: int) -> dict:
    from aharally.sync.drain import drain_outbox as drain

    if not isinstance(integration_id, int) or isinstance(integration_id, bool):
        logger.error("drain_outbox needs an integration id, not %r", integration_id)
        return {"sent": 0, "reason": "bad argument"}
    with bound(integration_id=integration_id):
        return drain(integration_id)


def pull_updates(integration_id: int) -> dict:
    """The catch-up (`sync.catchup`): what changed in Rally, and the deliveries it covers."""
    from aharally.sync.catchup import run_catch_up

    if not isinstance(integration_id, int) or isinstance(integration_id, bool):
        logger.error("pull_updates needs an integration id, not %r", integration_id)
        return {"applied": 0, "reason": "bad argument"}
    with bound(integration_id=integration_id):
        return run_catch_up(integration_id)


def catch_up() -> list[int]:
    """Every period: a catch-up for each enabled integration that has linked records (none is
    queued for one whose catch-up already waits in the queue)."""
    from aharally.integrations.models import IntegrationState
    from aharally.sync.catchup import request_catch_up
    from aharally.sync.models import Link

    ids = sorted(
        set(
            Link.objects.filter(integration__state=IntegrationState.ENABLED).values_list(
                "integration_id", flat=True
            )
        )
    )
    for integration_id in ids:
        request_catch_up(integration_id)
    return ids


def enqueue_drain(integration_id: int) -> None:
    from django_q.tasks import async_task

    async_task(DRAIN, integration_id, task_name=f"drain-{integration_id}-{timezone.now():%H%M%S%f}")


def tick() -> dict:
    """Every minute: reclaim rows left in flight, and drain integrations with due rows."""
    from aharally.integrations.models import IntegrationState
    from aharally.sync import outbox
    from aharally.sync.models import OutboxItem

    reclaimed = outbox.reclaim_stuck()
    due = (
        OutboxItem.objects.filter(outbox.ready_q(timezone.now()))
        .filter(integration__state=IntegrationState.ENABLED)
        .values_list("integration_id", flat=True)
        .distinct()
    )
    ids = sorted(set(due))
    for integration_id in ids:
        enqueue_drain(integration_id)
    return {"reclaimed": reclaimed, "drained": ids}


def resume_after_authorization(integration) -> None:
    """Re-authorized: the rows that waited for a credential go out now (this integration and
    those built on it, which share its credential)."""
    from aharally.integrations.models import Integration
    from aharally.sync.models import OutboxItem

    ids = [
        integration.pk,
        *Integration.objects.filter(template=integration).values_list("pk", flat=True),
    ]
    waiting = OutboxItem.objects.filter(integration_id__in=ids, state="queued")
    for integration_id in sorted(set(waiting.values_list("integration_id", flat=True))):
        enqueue_drain(integration_id)


def ensure_schedules(**_kwargs) -> None:
    """Create the sync's schedules once (run after migrate); idempotent."""
    from django_q.models import Schedule

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
