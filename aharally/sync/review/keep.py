"""A reviewer's (or an owner's) choice between two values that disagree: keep aharally's, or
use Rally's. One rule for both places that offer it, conflicts and Compare with Rally."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.templates_service import effective_config
from aharally.records import custom
from aharally.records.services import update_record
from aharally.sync import custom_values, history, listeners, mapping
from aharally.sync.agreement import to_record_value
from aharally.sync.models import ActivityAction, Link, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.people import people_map
from aharally.sync.records import SOURCE

KEEP_OURS = "ours"
KEEP_THEIRS = "theirs"


class NoMatch(Exception):
    """Rally's value has no match here (a status or a person aharally lacks)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def keep_value(*, link: Link, record, field: str, theirs: Any, keep: str, user) -> bool:
    """Rally's value becomes the agreed one; aharally's is then queued to go (no second
    approval), or Rally's written here, by the person who chose it with source Rally, so
    nothing is sent back. True when a row now waits in the outbox.

    Raises NoMatch, having written nothing, when Rally's value can't be taken here.
    """
    if keep == KEEP_THEIRS:
        record_mapping = effective_config(link.integration).mapping_for(link.record_type)
        status_map = record_mapping.status_map if record_mapping else None
        specs = (
            custom_values.specs_for(
                record_mapping.field_mappings,
                record.workspace_id,
                record_type=record_mapping.record_type,
            )
            if record_mapping and custom_values.is_custom(field)
            else {}
        )
        if field in specs:
            value = custom_values.to_record(
                specs[field],
                theirs,
                workspace_id=record.workspace_id,
                people=people_map(link.integration),
            )
        else:
            value = to_record_value(
                field,
                theirs,
                status_map,
                workspace=record.workspace,
                people=people_map(link.integration),
            )
        if value is custom_values.UNMAPPED or (custom_values.is_custom(field) and not specs):
            raise NoMatch(
                f"Rally's value “{mapping.display(field, theirs)}” has no match in aharally "
                "(no choice maps to it in the field mapping's value map)."
            )
        if value is mapping.UNKNOWN:
            raise NoMatch(
                f"Rally's value “{mapping.display(field, theirs)}” has no match in aharally "
                "(a status or a person it lacks)."
            )
        changed = update_record(record, changes={field: value}, user=user, source=SOURCE)
        listeners.taken_from_rally(
            link.integration_id, link.record_type, {record.pk: changed} if changed else {}
        )
    # Rally's value is now the agreed one either way: kept here, or overwritten by ours (the
    # push then sees ours as the change).
    baseline = {**link.baseline, field: theirs}
    Link.objects.filter(pk=link.pk).update(baseline=baseline, updated_at=timezone.now())
    if keep == KEEP_THEIRS:
        _drop_from_waiting_change(link, record, field, user=user)
        return False
    outbox.write_row(
        integration=link.integration,
        record_type=link.record_type,
        record_id=link.record_id,
        kind=OutboxKind.UPDATE,
        fields=[field],
        user=user,
        state=OutboxState.QUEUED,
    )
    return True


def _drop_from_waiting_change(link: Link, record, field: str, *, user) -> None:
    """Rally's value kept: the change waiting for approval no longer offers ours for that
    field, and goes when nothing is left in it (the drain would have sent nothing)."""
    row = (
        OutboxItem.objects.select_for_update()
        .filter(
            integration_id=link.integration_id,
            record_type=link.record_type,
            record_id=link.record_id,
            kind=OutboxKind.UPDATE,
            state=OutboxState.AWAITING_APPROVAL,
        )
        .first()
    )
    if row is None or field not in row.fields:
        return
    rest = [name for name in row.fields if name != field]
    if rest:
        OutboxItem.objects.filter(pk=row.pk).update(fields=rest)
        return
    now = timezone.now()
    OutboxItem.objects.filter(pk=row.pk).update(
        state=OutboxState.SENT, decided_by=user, decided_at=now, finished_at=now, sent_values={}
    )
    label = (
        custom.labels(record.workspace_id, link.record_type, {field}).get(field, "value")
        if custom.is_custom(field)
        else FIELD_LABELS.get(field, field).split(" (")[0].lower()
    )
    history.note(
        row, ActivityAction.APPROVED, f"Nothing left to send: Rally's {label} was kept", user
    )
