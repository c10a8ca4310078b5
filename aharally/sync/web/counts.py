"""Linked records, pending changes and members with no Rally user, for Manage integrations
(a fixed number of queries, whatever the number of integrations)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count

from aharally.integrations.models import Integration
from aharally.integrations.report import SyncCounts
from aharally.sync.models import OPEN_STATES, Link, LinkState, OutboxItem
from aharally.sync.people import people_maps
from aharally.sync.web.integration_pages import integration_url


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
    integrations = Integration.objects.filter(pk__in=integration_ids).select_related(
        "template", "workspace"
    )
    maps = people_maps(integrations)
    sources = {integration.pk: integration.source.pk for integration in integrations}
    by_id = {integration.pk: integration for integration in integrations}
    return {
        pk: SyncCounts(
            linked=linked.get(pk, 0),
            pending=pending.get(pk, 0),
            unmatched=_unmatched(maps.get(sources.get(pk))),
            people_url=integration_url("sync:people", by_id[pk]) if pk in by_id else "",
        )
        for pk in integration_ids
    }


def _unmatched(people) -> int | None:
    return len(people.unmatched()) if people is not None and people.read else None
