"""A record's parents go first: found linked (here or in another workspace on the same
template), or created inside the child's send.

`resolve_parents` takes the function that sends one row (`push.send_row`) rather than
importing it: push uses this module, and a parent's create is sent the way every row is.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from aharally.integrations.models import Integration, IntegrationState
from aharally.rally.objects import RallyRef
from aharally.sync import history, mapping
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    ErrorKind,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.workspaces.models import RecordType

SendRow = Callable[[OutboxItem, DrainRun], None]


# (aharally relation, parent type, the Rally attribute it fills on the child)
PARENT_ATTRIBUTE = {
    ("feature", RecordType.REQUIREMENT): "PortfolioItem",
    ("release", RecordType.FEATURE): "Release",
    ("release", RecordType.EPIC): "Release",
    ("epic", RecordType.FEATURE): "Parent",
    ("initiative", RecordType.FEATURE): "Parent",
    ("initiative", RecordType.EPIC): "Parent",
}


def parent_integration(parent, integration: Integration) -> Integration | None:
    """Where a parent is linked: this integration, or one of the parent's workspace on the
    same template (DESIGN rule 6)."""
    if parent.workspace_id == integration.workspace_id:
        return integration
    source_id = integration.source.pk
    candidates = Integration.objects.filter(
        workspace_id=parent.workspace_id, state=IntegrationState.ENABLED
    ).select_related("template")
    for candidate in candidates:
        if candidate.source.pk == source_id:
            return candidate
    return None


def resolve_parents(
    record, row, run: DrainRun, *, integration: Integration, send_row: SendRow
) -> dict[str, RallyRef]:
    """The Rally refs of the record's parents, creating parents that Rally lacks first.

    Raises Deferred while a parent's create is under way elsewhere.
    """
    config = run.config_for(integration)
    found: dict[str, RallyRef] = {}
    for relation, parent_type in mapping.PARENT_FIELDS[row.record_type]:
        attribute = PARENT_ATTRIBUTE.get((relation, row.record_type))
        parent = getattr(record, relation, None)
        if parent is None or attribute is None or attribute in found:
            continue
        if (parent_type, row.record_type) not in config.relationship_links:
            continue
        if config.mapping_for(parent_type) is None:
            continue
        if parent_type == RecordType.RELEASE and parent.is_parking_lot:
            continue  # parking lots are never sent; the record goes without a Rally release
        where_linked = parent_integration(parent, integration)
        if where_linked is None:
            message = (
                f"{record.reference} went to Rally without its parent {parent.reference}: "
                f"{parent.workspace.name} has no enabled integration on the template "
                f"“{integration.source.name}”."
            )
            history.note(row, ActivityAction.SKIPPED, message)
            run.warn_once(
                f"parent:{parent.workspace_id}",
                message,
                f"Add an integration built on “{integration.source.name}” to "
                f"{parent.workspace.name} so its records are linked as parents.",
            )
            continue
        # A parent this run just linked (a feature before its requirements) needs no query.
        link = run.link_made(where_linked.pk, parent_type, parent.pk) or link_of(
            where_linked.pk, parent_type, parent.pk
        )
        if link is None:
            link = _create_parent(
                parent, parent_type, row, run, integration=where_linked, send_row=send_row
            )
        found[attribute] = RallyRef(ref=f"/{link.rally_type.lower()}/{link.rally_oid}")
    return found


def _create_parent(
    parent, parent_type: str, row, run: DrainRun, *, integration, send_row: SendRow
) -> Link:
    """Send a parent's create now, inside this row's send (it was approved with it).

    The parent's row keeps its own outcome: a lost answer or a failure is written on it at
    once (retried with its backoff, looked for first), never left in flight; the child waits
    for it.
    """
    waiting = OutboxItem.objects.filter(
        integration=integration,
        record_type=parent_type,
        record_id=parent.pk,
        kind=OutboxKind.CREATE,
        state__in=[OutboxState.QUEUED, OutboxState.IN_FLIGHT],
    ).first()
    if waiting is not None and waiting.state == OutboxState.IN_FLIGHT:
        raise Deferred  # another worker is creating it right now
    if waiting is not None and waiting.not_before and waiting.not_before > timezone.now():
        raise Deferred((waiting.not_before - timezone.now()).total_seconds())
    with transaction.atomic():
        parent_row = outbox.write_row(
            integration=integration,
            record_type=parent_type,
            record_id=parent.pk,
            kind=OutboxKind.CREATE,
            user=row.created_by,
            state=OutboxState.QUEUED,
        )
    claimed = attempts.claim_one(parent_row.pk, from_states=OPEN_STATES)
    if claimed is None:
        raise Deferred  # another worker is creating it right now
    claimed.decided_by = row.decided_by
    send_row(claimed, run)  # writes the parent's own outcome, whatever Rally answers
    link = link_of(integration.pk, parent_type, parent.pk)
    if link is not None:
        return link
    claimed.refresh_from_db()
    if claimed.state == OutboxState.FAILED:
        raise ParentFailed(
            f"{parent.reference} has to be in Rally first, and it could not be sent: "
            f"{claimed.error_message}",
            kind=claimed.error_kind or ErrorKind.CONFIG,
        )
    if claimed.not_before and claimed.not_before > timezone.now():
        raise Deferred((claimed.not_before - timezone.now()).total_seconds())
    raise Deferred  # the parent's send will be tried again shortly


class ParentFailed(Exception):
    """A parent the record needs could not be created; the record fails with its reason."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def link_of(integration_id: int, record_type: str, record_id: int) -> Link | None:
    return Link.objects.filter(
        integration_id=integration_id,
        record_type=record_type,
        record_id=record_id,
        state=LinkState.OK,
    ).first()
