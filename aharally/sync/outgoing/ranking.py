"""A record's place in Rally's rank: Rally ranks through `rankAbove`/`rankBelow` beside a
write (its `DragAndDropRank` is read-only), relative to another object, so the place is
given relative to the nearest linked sibling in aharally's order (a feature among its
release's features, a requirement among its feature's)."""

from __future__ import annotations

from aharally.records.models import Feature, Requirement
from aharally.sync.models import Link, LinkState
from aharally.workspaces.models import RecordType


def _siblings(record, record_type: str):
    if record_type == RecordType.FEATURE:
        return Feature.objects.filter(release_id=record.release_id).order_by("rank", "id")
    if record_type == RecordType.REQUIREMENT:
        return Requirement.objects.filter(feature_id=record.feature_id).order_by("rank", "number")
    return None


def rank_parameter(record, record_type: str, integration_id: int) -> tuple[str, str] | None:
    """("rankBelow", ref) of the nearest linked sibling ranked above the record, else
    ("rankAbove", ref) of the nearest below; None when no sibling is in Rally (two queries)."""
    siblings = _siblings(record, record_type)
    if siblings is None:
        return None
    order = list(siblings.values_list("pk", flat=True))
    if record.pk not in order:
        return None
    linked = {
        record_id: f"/{rally_type.lower()}/{oid}"
        for record_id, rally_type, oid in Link.objects.filter(
            integration_id=integration_id,
            record_type=record_type,
            record_id__in=order,
            state=LinkState.OK,
        ).values_list("record_id", "rally_type", "rally_oid")
    }
    place = order.index(record.pk)
    for pk in reversed(order[:place]):
        if pk in linked:
            return "rankBelow", linked[pk]
    for pk in order[place + 1 :]:
        if pk in linked:
            return "rankAbove", linked[pk]
    return None
