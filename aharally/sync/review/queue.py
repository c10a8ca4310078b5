"""Integration updates: what waits for a reviewer, field by field, and their decisions.

Pending outgoing changes are grouped by record. "In Rally" is the value both sides last
agreed on (the link's baseline), which needs no request to Rally; "New" is the record's value
now, which is what approving sends. The next issue adds records waiting to be imported to the
same page (`ImportCandidate`), so entries carry a `kind`. Conflicts and imports waiting for
approval are decided in `sync.conflicts` and `sync.import_decisions`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.functional import cached_property

from aharally.discussion.sizes import file_size
from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.models import Integration
from aharally.integrations.templates_service import effective_config
from aharally.records.richtext import html_to_text
from aharally.sync import custom_values, enqueue, history, mapping
from aharally.sync.models import (
    DISCUSSION_KINDS,
    ActivityAction,
    Conflict,
    ConflictState,
    ImportCandidate,
    ImportState,
    Link,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.records import load_records
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import (
    ROLE_CAPABILITIES,
    AuditAction,
    Capability,
    Membership,
    RecordType,
)

REVIEW_ROLES = [role for role, caps in ROLE_CAPABILITIES.items() if Capability.REVIEW in caps]
# The queue page shows at most this many records at once (newest changes last).
PAGE_SIZE = 200


def reviewable_workspace_ids(user) -> list[int]:
    return list(
        Membership.objects.filter(user=user, role__in=REVIEW_ROLES).values_list(
            "workspace_id", flat=True
        )
    )


def waiting_count(*, workspace_ids) -> int:

    if not workspace_ids:
        return 0
    waiting = OutboxItem.objects.filter(
        state=OutboxState.AWAITING_APPROVAL, integration__workspace_id__in=workspace_ids
    ).count()

    return (
        waiting
        + Conflict.objects.filter(
            state=ConflictState.OPEN, link__integration__workspace_id__in=workspace_ids
        ).count()
        + ImportCandidate.objects.filter(
            state=ImportState.PENDING, integration__workspace_id__in=workspace_ids
        ).count()
    )


class ReviewerBadge:
    """The top bar's count, computed once per page and only if the page shows it."""

    def __init__(self, user) -> None:
        self.user = user

    @cached_property
    def workspace_ids(self) -> list[int]:
        return reviewable_workspace_ids(self.user)

    @cached_property
    def count(self) -> int:
        return waiting_count(workspace_ids=self.workspace_ids)

    @property
    def show(self) -> bool:
        return bool(self.workspace_ids)


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    in_rally: str
    new: str
    # Rally holds a newer value than the last agreed one (an open conflict on the field).
    changed_in_rally: bool = False


@dataclass
class QueueEntry:
    kind: str  # "outgoing" (this issue); "import" joins later
    row: OutboxItem
    record: Any
    integration: Integration
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def is_create(self) -> bool:
        return self.row.kind == OutboxKind.CREATE


@dataclass(frozen=True)
class QueueFilters:
    integration: int | None = None
    record_type: str = ""
    author: int | None = None


def _rows(user, filters: QueueFilters, states):
    rows = OutboxItem.objects.filter(
        state__in=states, integration__workspace_id__in=reviewable_workspace_ids(user)
    ).select_related("integration__workspace", "integration__template", "created_by")
    if filters.integration:
        rows = rows.filter(integration_id=filters.integration)
    if filters.record_type:
        rows = rows.filter(record_type=filters.record_type)
    if filters.author:
        rows = rows.filter(created_by_id=filters.author)
    return rows.order_by("created_at", "id")


def _records_for(rows) -> dict[tuple[str, int], Any]:
    """Each row's record, by the row's (record_type, record_id); a comment's or an
    attachment's row gets the record it is on."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_type[history.about(row)[0]].append(history.about(row)[1])
    found = {}
    for record_type, ids in by_type.items():
        for pk, record in load_records(record_type, ids).items():
            found[(record_type, pk)] = record
    for row in rows:
        if row.kind in DISCUSSION_KINDS and history.about(row) in found:
            found[(row.record_type, row.record_id)] = found[history.about(row)]
    return found


def pending_entries(*, user, filters: QueueFilters) -> list[QueueEntry]:
    """Pending outgoing changes, each with its fields' values; queries don't grow with N."""
    rows = list(_rows(user, filters, [OutboxState.AWAITING_APPROVAL])[:PAGE_SIZE])
    records = _records_for(rows)
    links = {
        (link.integration_id, link.record_type, link.record_id): link
        for link in Link.objects.filter(
            integration_id__in={r.integration_id for r in rows},
            record_id__in={r.record_id for r in rows},
        )
    }
    # What the catch-up saw in Rally since the last agreement: fresher than the baseline.
    newer_in_rally = {
        (c.link_id, c.field): c.theirs
        for c in Conflict.objects.filter(
            link__in=list(links.values()), state=ConflictState.OPEN
        ).only("link_id", "field", "theirs")
    }
    configs = {
        pk: effective_config(r.integration) for pk, r in {r.integration_id: r for r in rows}.items()
    }
    entries = []
    for row in rows:
        record = records.get((row.record_type, row.record_id))
        if record is None:
            continue
        config = configs[row.integration_id]
        record_mapping = config.mapping_for(row.record_type)
        link = links.get((row.integration_id, row.record_type, row.record_id))
        entries.append(
            QueueEntry(
                kind="outgoing",
                row=row,
                record=record,
                integration=row.integration,
                changes=_changes(row, record, record_mapping, link, newer_in_rally),
            )
        )
    return entries


def _changes(row, record, record_mapping, link, newer_in_rally) -> list[FieldChange]:
    if row.kind in DISCUSSION_KINDS:
        return [_discussion_change(row)]
    if record_mapping is None:
        return []
    creating = row.kind == OutboxKind.CREATE
    pairs = mapping.fields_to_send(record_mapping.field_mappings, creating=creating)
    if not creating:
        pairs = [(f, r) for f, r in pairs if f in set(row.fields)]
    status_map = record_mapping.status_map
    # Mapped custom fields (no query when none): their values as they would be sent.
    specs = custom_values.specs_for(
        record_mapping.field_mappings, record.workspace_id, record_type=record_mapping.record_type
    )
    pairs = [(f, r) for f, r in pairs if not custom_values.is_custom(f) or f in specs]
    values = mapping.record_values(
        record,
        fields=[f for f, _ in pairs if f not in specs],
        state_for=(status_map.state_for if status_map else lambda status: None),
    )
    for name, spec in specs.items():
        values[name] = custom_values.record_value(record, spec, specs)
    baseline = link.baseline if link is not None else {}
    changes = []
    for field_name, rally_field in pairs:
        new = values.get(field_name)
        old = baseline.get(field_name)
        if not creating and old == new:
            continue
        if field_name == "rank":
            # A rank is a place among siblings (rankAbove/rankBelow in Rally), not a number
            # a reviewer can read; a create takes no place of its own.
            if not creating:
                changes.append(
                    FieldChange(
                        field=field_name,
                        label=mapping_label(field_name),
                        in_rally="",
                        new="Moved: ranked beside its neighbours in Rally",
                    )
                )
            continue
        newer = link is not None and (link.pk, field_name) in newer_in_rally
        if newer:
            old = newer_in_rally[(link.pk, field_name)]
        changes.append(
            FieldChange(
                field=field_name,
                label=f"{_label(field_name, specs)} → {rally_field}",
                in_rally="" if creating else mapping.display(field_name, old),
                new=mapping.display(field_name, new),
                changed_in_rally=newer,
            )
        )
    return changes


def _discussion_change(row) -> FieldChange:
    """A comment or a file waiting to go: what it is, as the reviewer reads it."""
    values = row.values
    if row.kind == OutboxKind.EDIT:
        text = html_to_text(values.get("text", ""))
        return FieldChange(
            field="comments",
            label="Edited comment → Discussion",
            in_rally="",
            new=text if len(text) <= 300 else text[:299] + "…",
        )
    if row.kind == OutboxKind.REMOVE:
        field = "comments" if row.record_type == "comment" else "attachments"
        what = html_to_text(values.get("text", "")) or values.get("name", "")
        return FieldChange(
            field=field,
            label=f"Deleted {'comment' if field == 'comments' else 'attachment'} → "
            f"{'Discussion' if field == 'comments' else 'Attachments'}",
            in_rally=what if len(what) <= 300 else what[:299] + "…",
            new="(deleted in Rally too)",
        )
    if row.kind == OutboxKind.COMMENT:
        text = html_to_text(values.get("text", ""))
        return FieldChange(
            field="comments",
            label="New comment → Discussion",
            in_rally="",
            new=text if len(text) <= 300 else text[:299] + "…",
        )
    return FieldChange(
        field="attachments",
        label="New attachment → Attachments",
        in_rally="",
        new=f"{values.get('name', '')} ({file_size(values.get('size') or 0)})",
    )


def _label(field_name: str, specs) -> str:
    return specs[field_name].label if field_name in specs else mapping_label(field_name)


def mapping_label(field_name: str) -> str:

    return FIELD_LABELS.get(field_name, field_name).split(" (")[0]


def problem_rows(*, user, filters: QueueFilters) -> list[OutboxItem]:
    """Failed rows, and rows retrying after an error, with their records attached.

    A row being tried again is in flight, and still carries the error of its last attempt:
    the record's menu says "Retrying", and so does this list.
    """
    states = [OutboxState.FAILED, OutboxState.QUEUED, OutboxState.IN_FLIGHT]
    rows = list(_rows(user, filters, states).exclude(error_kind="")[:PAGE_SIZE])
    records = _records_for(rows)
    for row in rows:
        row.record = records.get((row.record_type, row.record_id))
    return [row for row in rows if row.record is not None]


# -- decisions ----------------------------------------------------------------------------------


class DecisionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _decidable(user, row_ids, states) -> list[OutboxItem]:
    allowed = set(reviewable_workspace_ids(user))
    rows = list(
        OutboxItem.objects.select_for_update(of=("self",))
        .filter(pk__in=list(row_ids))
        .select_related("integration__workspace")
    )
    if len(rows) != len(set(row_ids)):
        raise DecisionError("Some of these changes no longer exist; reload the page.")
    if any(row.integration.workspace_id not in allowed for row in rows):
        raise PermissionDenied("You may not review changes of that workspace.")
    return [row for row in rows if row.state in states]


@transaction.atomic
def approve(*, user, row_ids) -> int:
    """Approving sends: the rows join the queue at once."""

    rows = _decidable(user, row_ids, [OutboxState.AWAITING_APPROVAL])
    now = timezone.now()
    # One UPDATE and one INSERT whatever the selection's size.
    OutboxItem.objects.filter(pk__in=[row.pk for row in rows]).update(
        state=OutboxState.QUEUED, decided_by=user, decided_at=now, not_before=None
    )
    history.note_all(((row, "") for row in rows), ActivityAction.APPROVED, user)
    _audit(rows, user=user, action=AuditAction.APPROVAL, verb="Approved")
    for integration_id in {row.integration_id for row in rows}:
        enqueue.drain_on_commit(integration_id)
    return len(rows)


@transaction.atomic
def reject(*, user, row_ids) -> int:
    """Rejecting keeps aharally's value and stops the same change from being offered again."""
    rows = _decidable(user, row_ids, [OutboxState.AWAITING_APPROVAL])
    now = timezone.now()
    records = _records_for(rows)
    for row in rows:
        record = records.get((row.record_type, row.record_id))
        rejected_values = row.values if row.kind in DISCUSSION_KINDS else {}
        if row.kind == OutboxKind.UPDATE and record is not None:
            config = effective_config(row.integration)
            record_mapping = config.mapping_for(row.record_type)
            if record_mapping is not None:
                status_map = record_mapping.status_map
                rejected_values = mapping.record_values(
                    record,
                    fields=[
                        f
                        for f in row.fields
                        if f in {m.field for m in record_mapping.field_mappings}
                    ],
                    state_for=(status_map.state_for if status_map else lambda status: None),
                )
                link = Link.objects.filter(
                    integration_id=row.integration_id,
                    record_type=row.record_type,
                    record_id=row.record_id,
                ).first()
                if link is not None:
                    link.rejected = {**link.rejected, **rejected_values}
                    link.save(update_fields=["rejected", "updated_at"])
        OutboxItem.objects.filter(pk=row.pk).update(
            state=OutboxState.REJECTED,
            decided_by=user,
            decided_at=now,
            values=rejected_values,
            finished_at=now,
        )
        what = {
            OutboxKind.CREATE: "creating it in Rally",
            OutboxKind.COMMENT: "sending a comment",
            OutboxKind.ATTACHMENT: f"sending {row.values.get('name', 'a file')}",
            OutboxKind.EDIT: "sending a comment's edit",
            OutboxKind.REMOVE: "deleting it in Rally",
        }.get(row.kind, ", ".join(row.fields))
        history.note(row, ActivityAction.REJECTED, f"Rejected {what}", user)
    _audit(rows, user=user, action=AuditAction.REJECTION, verb="Rejected")
    return len(rows)


def _audit(rows, *, user, action: str, verb: str) -> None:
    """One audit entry per workspace and decision, naming the records."""
    by_workspace: dict[int, list[OutboxItem]] = defaultdict(list)
    for row in rows:
        by_workspace[row.integration.workspace_id].append(row)
    records = _records_for(rows)
    for decided in by_workspace.values():
        names = [
            getattr(records.get((r.record_type, r.record_id)), "reference", r.record_type)
            for r in decided
        ]
        record_audit(
            workspace=decided[0].integration.workspace,
            actor=user,
            action=action,
            target=decided[0].integration.name,
            detail=f"{verb} sending {', '.join(names[:50])} to Rally"
            + (f" and {len(names) - 50} more" if len(names) > 50 else ""),
        )


@transaction.atomic
def retry(*, user, row_ids) -> int:

    allowed = set(reviewable_workspace_ids(user))
    rows = OutboxItem.objects.filter(pk__in=list(row_ids))
    if rows.exclude(integration__workspace_id__in=allowed).exists():
        raise PermissionDenied("You may not retry changes of that workspace.")
    ids = set(rows.values_list("integration_id", flat=True))
    count = outbox.retry_now(rows=rows)
    for integration_id in ids:
        enqueue.drain_on_commit(integration_id)
    return count


RECORD_TYPE_CHOICES = [(t.value, t.label) for t in RecordType]
