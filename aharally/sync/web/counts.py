"""Linked-record and pending-change counts for Manage integrations (a fixed two queries)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count

from aharally.integrations.report import SyncCounts
from aharally.sync.models import OPEN_STATES, Link, LinkState, OutboxItem


def sync_counts(integration_ids: Sequence[int]) -> dict[int, SyncCounts]:
    linked = dict(
        Link.objects.filter(integration_id__in=integration_ids, state=LinkState.OK)
        .values("integration_id")
        .annotate(n=Count("id"))
        .values_list("integration_id", "n")
    )
    pending = dict(
        OutboxItem.objects.filter(integration_id__in=integration_ids, state__in=OPEN_STATES)
        .values("integration_id")
        .annotate(n=Count("id"))
        .values_list("integration_id", "n")
    )
    return {
        pk: SyncCounts(linked=linked.get(pk, 0), pending=pending.get(pk, 0))
        for pk in integration_ids
    }
