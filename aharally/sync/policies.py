"""Conflict policies: who wins a field changed on both sides since they last agreed.

Each two-way field mapping has one (conflictpolicy; inherited from a template, since a derived
integration works with its template's mappings): *Ask a reviewer* (a `Conflict`, the default),
*aharally wins*, *Rally wins*, or *Most recent change wins*, by the time of our last edit of the
field and Rally's `LastUpdateDate` of the object. The catch-up (`incoming/apply.py`) and an
update's read before it writes (`outgoing/guarded_update.py`) both decide here, and what a
policy decided is said with both values in the record's integration history and the log, so
nothing is lost silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from aharally.conflictpolicy.models import Policy, policy_of
from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.log import log_event
from aharally.integrations.models import Direction, LogLevel
from aharally.records import custom
from aharally.records.models import RecordChange
from aharally.sync import history, mapping
from aharally.sync.models import ActivityAction
from aharally.sync.records import SOURCE

__all__ = ["ASK", "OURS", "THEIRS", "Policy", "decide", "policies_of", "say_decided"]

ASK = "ask"
OURS = "ours"
THEIRS = "theirs"


def policies_of(record_mapping) -> dict[str, str]:
    """Each two-way field's policy, *Ask a reviewer* left out (the common case)."""
    found = {}
    for field_mapping in record_mapping.field_mappings:
        if field_mapping.direction == Direction.BOTH:
            policy = policy_of(field_mapping)
            if policy != Policy.ASK:
                found[field_mapping.field] = policy
    return found


def winner(policy: str, *, ours_at: datetime | None, theirs_at: datetime | None) -> str:
    """OURS, THEIRS, or ASK (a reviewer decides: the policy says so, or can't tell)."""
    if policy == Policy.AHARALLY:
        return OURS
    if policy == Policy.RALLY:
        return THEIRS
    if policy == Policy.RECENT and ours_at is not None and theirs_at is not None:
        return OURS if ours_at > theirs_at else THEIRS
    return ASK


def our_change_time(record, field_name: str) -> datetime | None:
    """When someone here last changed the field (not the integration's own writes)."""
    last = (
        RecordChange.objects.filter(
            content_type__model=type(record)._meta.model_name,
            object_id=record.pk,
            field=field_name,
        )
        .exclude(source=SOURCE)
        .order_by("-changed_at", "-id")
        .values_list("changed_at", flat=True)
        .first()
    )
    return last


def rally_change_time(obj) -> datetime | None:
    stamp = obj.get("LastUpdateDate") if obj is not None else None
    return parse_datetime(stamp) if isinstance(stamp, str) and stamp else None


def decide(policy: str, record, obj, field_name: str) -> str:
    if policy == Policy.RECENT:
        return winner(
            policy,
            ours_at=our_change_time(record, field_name),
            theirs_at=rally_change_time(obj),
        )
    return winner(policy, ours_at=None, theirs_at=None)


def say_decided(link, record, field_name: str, *, ours: Any, theirs: Any, kept: str, policy: str):
    """The decision, with both values, in the record's integration history and the log."""
    label = FIELD_LABELS.get(field_name, field_name)
    if custom.is_custom(field_name):  # its name in the layout (a query a decision, rare)
        label = custom.labels(record.workspace_id, record.record_type, [field_name]).get(
            field_name, field_name
        )
    side, value = ("Rally", theirs) if kept == THEIRS else ("aharally", ours)
    message = (
        f"{record.reference}'s {label} changed on both sides since they last agreed: "
        f"aharally “{mapping.display(field_name, ours)}”, Rally ({link.label}) "
        f"“{mapping.display(field_name, theirs)}”. {Policy(policy).label}: {side}'s "
        f"“{mapping.display(field_name, value)}” is kept."
    )
    history.note(link, ActivityAction.CONFLICT, message)
    log_event(link.integration, LogLevel.INFO, message)
