"""Asking the task cluster for work: the sync's task names, and enqueuing them with ids.

Every sync module imports this one (at the top) rather than `sync.tasks`, which imports the
services it runs: so the tasks sit above the services and nothing goes round in a circle.
A row's drain is asked for once the transaction that wrote the row commits (DESIGN rule 2).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

DRAIN = "aharally.sync.tasks.drain_outbox"
TICK = "aharally.sync.tasks.tick"
PULL = "aharally.sync.tasks.pull_updates"
CATCH_UP = "aharally.sync.tasks.catch_up"
PROCESS_EVENT = "aharally.sync.tasks.process_event"
REGISTER_WEBHOOK = "aharally.sync.tasks.register_webhook"
UNREGISTER_WEBHOOK = "aharally.sync.tasks.unregister_webhook"
SEARCH = "aharally.sync.tasks.search_rally"
COMPARE = "aharally.sync.tasks.compare_with_rally"
READ_PEOPLE = "aharally.sync.tasks.read_rally_people"
PLACE_IN_RANK = "aharally.sync.tasks.place_in_rank"


def enqueue_drain(integration_id: int, *, unplaced: list | None = None) -> None:
    """A drain of the integration's due rows, now (its rows are committed already);
    `unplaced`, a predecessor's new objects for it to place in rank (`drain.drain_outbox`)."""
    arguments = (integration_id, unplaced) if unplaced else (integration_id,)
    async_task(DRAIN, *arguments, task_name=f"drain-{integration_id}-{timezone.now():%H%M%S%f}")


def drain_on_commit(integration_id: int) -> None:
    """A drain of the integration's due rows, once the current transaction commits."""
    transaction.on_commit(lambda: enqueue_drain(integration_id))


def enqueue_on_commit(task: str, *ids: int) -> None:
    """Any sync task, with its ids, once the current transaction commits."""
    transaction.on_commit(lambda: async_task(task, *ids))


def enqueue(task: str, *ids, **options) -> None:
    """Any sync task, with its ids, now (nothing of it waits for a commit)."""
    async_task(task, *ids, **options)
