"""The catch-up on request: webhook deliveries, the minute's schedule and Sync now ask for one.

Deliveries coalesce. A request queues the task only when none is pending for the integration
and none runs, so however many deliveries arrive, at most one catch-up per integration waits in
the queue the drains and the tick share (before, each delivery queued a whole catch-up: 300 of
them held a Send back by two minutes). A request made while a run reads Rally is left with that
run, which queues one more when it ends, so a change that arrived after it read is not missed.

The pending flag lives in the shared cache (the database's or Redis), with an expiry: a task lost
with a restart or a killed worker can't wedge it, the next request after `PENDING_FOR` queues
again. What a run covers is read from `IncomingEvent`: the deliveries kept before it starts are
marked processed together after it; a *Deleted* one is checked in Rally first
(`incoming/deletions.py`).
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.sync import enqueue, listeners
from aharally.sync.incoming.deletions import apply_deletions
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.leases import Lease
from aharally.sync.models import IncomingEvent, PullCursor

# A request older than this counts as not pending: its task was lost (a restart, a kill).
PENDING_FOR = 180
# The answer of a run that found another one running.
BUSY = "another catch-up is running"
# Deliveries marked processed a statement at a time (SQLite's bound on query parameters).
CHUNK = 500


def _queued(integration_id: int) -> str:
    """The flag of a catch-up task waiting in the queue (cleared by the run that takes the
    lease)."""
    return f"sync-catch-up-queued:{integration_id}"


def _rerun(integration_id: int) -> str:
    """The flag of a catch-up asked for while one ran (the running one queues it as it ends).

    A flag of its own, not a value of the other: clearing it never clears a request queued
    meanwhile (the cache has no compare-and-delete)."""
    return f"sync-catch-up-rerun:{integration_id}"


def request_catch_up(integration_id: int) -> bool:
    """Ask the cluster for a catch-up; True when this call queued one.

    Nothing is queued when one is pending already, nor while one runs: that one runs once more
    when it ends (a second task would only take a worker to find it running).
    """

    if _running_elsewhere(integration_id):
        cache.set(_rerun(integration_id), True, timeout=PENDING_FOR)
        if _running_elsewhere(integration_id):
            return False
        # It ended between the two looks, maybe before it could see the request: queue it.
    cache.delete(_rerun(integration_id))  # asked of a run that has ended (or died): this is it
    if not cache.add(_queued(integration_id), True, timeout=PENDING_FOR):
        return False
    enqueue.enqueue(
        enqueue.PULL, integration_id, task_name=f"pull-{integration_id}-{timezone.now():%H%M%S%f}"
    )
    return True


def run_catch_up(integration_id: int) -> dict:
    """One catch-up (in the cluster): what changed in Rally, then the deliveries it covers."""

    if not Integration.objects.filter(pk=integration_id).exists():
        return {"applied": 0, "reason": "no such integration"}  # deleted since it was asked
    lease = Lease(PullCursor, integration_id)
    if not lease.take():
        return _after_the_running_one(integration_id)
    # A worker runs one task at a time: its process's CPU is this run's (its stored result
    # says it, and bench/send.py tells a catch-up's CPU from a send's by it).
    cpu = time.process_time()
    try:
        # Only the run holding the lease clears the requests: what was asked for before now,
        # this run covers; a delivery from now on asks for one more run.
        cache.delete_many([_queued(integration_id), _rerun(integration_id)])
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
        # Told, not returned: the task's result is stored, and a large catch-up changes many.
        changed = outcome.pop("changed", [])
    finally:
        lease.give_back()
    listeners.caught_up(integration_id, changed=changed)
    # After giving the lease back: a request made while this run held it has left its flag by
    # now, or sees the lease free and queues a run itself.
    if cache.get(_rerun(integration_id)):
        # Queued at the back of the queue, so the drains and the tick queued meanwhile go first.
        request_catch_up(integration_id)
    outcome["cpu_ms"] = round(1000 * (time.process_time() - cpu), 1)
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
    cache.delete(_queued(integration_id))  # this task was the one waiting
    request_catch_up(integration_id)
    return {"applied": 0, "reason": BUSY, "rerun": True}
