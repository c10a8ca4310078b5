"""Sending new Owners after People changed: never silently, always through the outbox.

When an owner pairs a member with another Rally user (or with one at last), the records
assigned to that member keep their old Owner in Rally until the owner chooses to send the new
one; each goes as an update of the assignee alone, with approval when the integration approves
outgoing changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from aharally.integrations.models import Integration
from aharally.sync.models import Link, LinkState
from aharally.sync.outgoing import outbox
from aharally.sync.records import MODELS


def _group(integration: Integration) -> list[Integration]:
    source = integration.source
    return [source, *Integration.objects.filter(template=source)]


def linked_records_of(integration: Integration, member_ids: Iterable[int]) -> list[Link]:
    """The group's OK links whose records are assigned to one of these members."""
    member_ids = list(member_ids)
    found: list[Link] = []
    if not member_ids:
        return found
    links = Link.objects.filter(integration__in=_group(integration), state=LinkState.OK)
    for record_type, model in MODELS.items():
        if not hasattr(model, "assignee_id"):
            continue
        assigned = model.objects.filter(assignee_id__in=member_ids).values("pk")
        found.extend(links.filter(record_type=record_type, record_id__in=assigned))
    return found


@transaction.atomic
def send_new_owners(*, integration: Integration, member_ids: Iterable[int], user) -> int:
    """Queue the assignee of every linked record of these members; how many were queued."""
    links = linked_records_of(integration, member_ids)
    for link in links:
        outbox.queue_change(
            integration=link.integration,
            record_type=link.record_type,
            record_id=link.record_id,
            fields=["assignee"],
            user=user,
        )
    return len(links)
