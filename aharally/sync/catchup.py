"""The catch-up on request: webhook deliveries, the minute's schedule and Sync now ask for one.

Deliveries coalesce. A request queues the task only when none is pending for the integration,
so however many deliveries arrive, at most one catch-up per integration waits in the queue the
drains and the tick share (before, each delivery queued a whole catch-up: 300 of them held a
Send back by two minutes). A run that finds another one running leaves a request for a rerun;
the running one queues it when it ends, so a change that arrived after it read is not missed.

The pending flag lives in the shared cache (the database's or Redis), with an expiry: a task lost
with a restart or a killed worker can't wedge it, the next request after `PENDING_FOR` queues
again. What a run covers is read from `IncomingEvent`: the deliveries kept before it starts are
marked processed together after it; a *Deleted* one is checked in Rally first
(`webhooks.apply_deletions`).
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.sync.leases import Lease
from aharally.sync.models import IncomingEvent, PullCursor

logger = logging.getLogger(__name__)

# A request older than this counts as not pending: its task was lost (a restart, a kill).
PENDING_FOR = 180
# The flag's values: a task waits in the queue; or one was asked for while another ran, and
# that one queues it when it ends.
QUEUED = "queued"
RERUN = "rerun"
# The answer of a run that found another one running.
BUSY = "another catch-up is running"
# Deliveries marked processed a statement at a time (SQLite's bound on query parameters).
CHUNK = 500


def _key(integration_id: int) -> str:
    return f"sync-catch-up-requested:{integration_id}"


def request_catch_up(integration_id: int) -> bool:
    """Ask the cluster for a catch-up; True when this call queued one (none was pending)."""
    from django_q.tasks import async_task

    from aharally.sync.tasks import PULL

    if not cache.add(_key(integration_id), QUEUED, timeout=PENDING_FOR):
        return False
    async_task(PULL, integration_id, task_name=f"pull-{integration_id}-{timezone.now():%H%M%S%f}")
    return True


def run_catch_up(integration_id: int) -> dict:
    """One catch-up (in the cluster): what changed in Rally, then the deliveries it covers."""
    from aharally.sync.pull import pull_updates
    from aharally.sync.webhooks import apply_deletions

    if not Integration.objects.filter(pk=integration_id).exists():
        return {"applied": 0, "reason": "no such integration"}  # deleted since it was asked
    lease = Lease(PullCursor, integration_id)
    if not lease.take():
        return _after_the_running_one(integration_id)
    try:
        # Only the run holding the lease clears the request: from here a new delivery queues
        # a new run, since this one may read before its change.
        cache.delete(_key(integration_id))
        events = list(
            IncomingEvent.objects.filter(integration_id=integration_id, processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "action", "object_oid")
        )
        outcome = pull_updates(integration_id, lease=lease)
        done = [pk for pk, action, _ in events if action != "Deleted"]
        deleted = {pk: oid for pk, action, oid in events if action == "Deleted"}
        if deleted and apply_deletions(integration_id, set(deleted.values()) - {None}):
            done += list(deleted)
        # Deleted ones Rally could not be asked about stay unprocessed: the next run asks again.
        for start in range(0, len(done), CHUNK):
            IncomingEvent.objects.filter(pk__in=done[start : start + CHUNK]).update(
                processed_at=timezone.now()
            )
        outcome["deliveries"] = len(done)
    finally:
        lease.give_back()
    # After giving the lease back: a run that found it taken has left its request by now, or
    # sees the lease free and queues itself (`_after_the_running_one`).
    _rerun_if_asked(integration_id)
    return outcome


def _running_elsewhere(integration_id: int) -> bool:
    return (
        PullCursor.objects.filter(integration_id=integration_id, expires_at__gt=timezone.now())
        .exclude(holder="")
        .exists()
    )


def _after_the_running_one(integration_id: int) -> dict:
    """Another catch-up runs and may have read before these changes: it runs once more when
    it ends, rather than this worker waiting for it."""
    cache.set(_key(integration_id), RERUN, timeout=PENDING_FOR)
    if not _running_elsewhere(integration_id):
        # It ended between the two looks, maybe before it could see the request.
        _rerun_if_asked(integration_id)
    return {"applied": 0, "reason": BUSY, "rerun": True}


def _rerun_if_asked(integration_id: int) -> None:
    """A run was asked for while this one ran: queue it (at the back of the queue, so the
    drains and the tick queued meanwhile go first)."""
    if cache.get(_key(integration_id)) == RERUN:
        cache.delete(_key(integration_id))
        request_catch_up(integration_id)
