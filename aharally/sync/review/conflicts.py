"""Fields changed on both sides since they last agreed: listed for a reviewer, who keeps
aharally's value (sent to Rally) or Rally's (written here as chosen by them, source Rally:
`review/keep.py`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from aharally.records import custom
from aharally.sync import enqueue, history, mapping
from aharally.sync.models import (
    ActivityAction,
    Conflict,
    ConflictState,
)
from aharally.sync.records import load_records
from aharally.sync.review.keep import KEEP_OURS, KEEP_THEIRS, NoMatch, keep_value
from aharally.sync.review.queue import (
    PAGE_SIZE,
    DecisionError,
    QueueFilters,
    mapping_label,
    reviewable_workspace_ids,
)
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction


@dataclass
class ConflictEntry:
    conflict: Any
    record: Any
    label: str
    ours: str
    theirs: str


def open_conflicts(*, user, filters: QueueFilters) -> list[ConflictEntry]:
    """Fields changed on both sides, for the reviewer to pick (queries don't grow with N)."""

    conflicts = Conflict.objects.filter(
        state=ConflictState.OPEN,
        link__integration__workspace_id__in=reviewable_workspace_ids(user),
    ).select_related("link__integration__workspace", "ours_by")
    if filters.integration:
        conflicts = conflicts.filter(link__integration_id=filters.integration)
    if filters.record_type:
        conflicts = conflicts.filter(link__record_type=filters.record_type)
    conflicts = list(conflicts[:PAGE_SIZE])
    by_type: dict[str, list[int]] = defaultdict(list)
    for conflict in conflicts:
        by_type[conflict.link.record_type].append(conflict.link.record_id)
    records = {}
    for record_type, ids in by_type.items():
        for pk, record in load_records(record_type, ids).items():
            records[(record_type, pk)] = record
    # Custom fields by their names: one query per workspace and record type that has any.
    wanted: dict[tuple[int, str], set[str]] = defaultdict(set)
    for conflict in conflicts:
        record = records.get((conflict.link.record_type, conflict.link.record_id))
        if record is not None and custom.is_custom(conflict.field):
            wanted[(record.workspace_id, conflict.link.record_type)].add(conflict.field)
    names = {key: custom.labels(*key, fields) for key, fields in wanted.items()}
    entries = []
    for conflict in conflicts:
        record = records.get((conflict.link.record_type, conflict.link.record_id))
        if record is None:
            continue
        own = names.get((record.workspace_id, conflict.link.record_type), {})
        entries.append(
            ConflictEntry(
                conflict=conflict,
                record=record,
                label=own.get(conflict.field) or mapping_label(conflict.field),
                ours=mapping.display(conflict.field, conflict.ours),
                theirs=mapping.display(conflict.field, conflict.theirs),
            )
        )
    return entries


@transaction.atomic
def resolve_conflict(*, user, conflict_id: int, keep: str) -> str:
    """Keep aharally's value (sent to Rally) or Rally's (written here); returns a message."""
    conflict = (
        Conflict.objects.select_for_update(of=("self",))
        .select_related("link__integration__template", "link__integration__workspace")
        .filter(pk=conflict_id)
        .first()
    )
    if conflict is None:
        raise DecisionError("That conflict no longer exists; reload the page.")
    link = conflict.link
    if link.integration.workspace_id not in set(reviewable_workspace_ids(user)):
        raise PermissionDenied("You may not review changes of that workspace.")
    if conflict.state != ConflictState.OPEN:
        raise DecisionError("That conflict was resolved already.")
    if keep not in (KEEP_OURS, KEEP_THEIRS):
        raise DecisionError("Choose which value to keep.")
    record = load_records(link.record_type, [link.record_id]).get(link.record_id)
    if record is None:
        raise DecisionError("The record no longer exists.")
    try:
        queued = keep_value(
            link=link,
            record=record,
            field=conflict.field,
            theirs=conflict.theirs,
            keep=keep,
            user=user,
        )
    except NoMatch as error:
        raise DecisionError(error.message) from None
    if queued:
        enqueue.drain_on_commit(link.integration_id)
        message = f"Kept aharally's {conflict.field} for {record.reference}: sending it to Rally."
    else:
        message = f"Kept Rally's {conflict.field} for {record.reference}."
    Conflict.objects.filter(pk=conflict.pk).update(
        state=ConflictState.RESOLVED, resolution=keep, resolved_by=user, resolved_at=timezone.now()
    )

    history.note(
        link,
        ActivityAction.APPROVED,
        message,
        user,
    )
    record_audit(
        workspace=link.integration.workspace,
        actor=user,
        action=AuditAction.APPROVAL,
        target=link.integration.name,
        detail=message,
    )
    return message
