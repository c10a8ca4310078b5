"""A record's parents go first: found linked (here or in another workspace on the same
template), or created inside the child's send.

`resolve_parents` takes the function that sends one row (`push.send_row`) rather than
importing it: push uses this module, and a parent's create is sent the way every row is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class PlannedParent:
    """A parent the record's send fills in: where it is linked (or None: its workspace has no
    integration on the template, so the record goes without it) and its link if it has one."""

    attribute: str
    relation: str
    parent: object
    parent_type: str
    where: Integration | None
    link: Link | None


def planned_parents(
    record,
    record_type: str,
    config,
    *,
    integration: Integration,
    find_link: Callable[[int, str, int], Link | None],
    where_linked: Callable[[object], Integration | None] | None = None,
) -> list[PlannedParent]:
    """The parents a send of the record fills in, by the rules of the relationship links (the
    send and its preview both ask here). `find_link` and `where_linked` answer from what the
    caller already loaded (a preview of many records) or from the database."""
    where_linked = where_linked or (lambda parent: parent_integration(parent, integration))
    planned: list[PlannedParent] = []
    attributes: set[str] = set()
    for relation, parent_type in mapping.PARENT_FIELDS[record_type]:
        attribute = PARENT_ATTRIBUTE.get((relation, record_type))
        parent = getattr(record, relation, None)
        if parent is None or attribute is None or attribute in attributes:
            continue
        if (parent_type, record_type) not in config.relationship_links:
            continue
        if config.mapping_for(parent_type) is None:
            continue
        if parent_type == RecordType.RELEASE and parent.is_parking_lot:
            continue  # parking lots are never sent; the record goes without a Rally release
        attributes.add(attribute)
        where = where_linked(parent)
        link = find_link(where.pk, parent_type, parent.pk) if where is not None else None
        planned.append(PlannedParent(attribute, relation, parent, parent_type, where, link))
    return planned


def resolve_parents(
    record, row, run: DrainRun, *, integration: Integration, send_row: SendRow,
    planned: list[PlannedParent] | None = None,
) -> dict[str, RallyRef]:  # fmt: skip
    """The Rally refs of the record's parents, creating parents that Rally lacks first.

    Raises Deferred while a parent's create is under way elsewhere.
    """
    if planned is None:
        planned = plan_parents_of(record, row.record_type, run, integration=integration)
    found: dict[str, RallyRef] = {}
    for one in planned:
        parent = one.parent
        if one.where is None:
            source = integration.source
            message = (
                f"{record.reference} went to Rally without its parent {parent.reference}: "
                f"{parent.workspace.name} has no enabled integration on the template "
                f"“{source.name}”."
                if source.is_template
                else f"{record.reference} went to Rally without its parent "
                f"{parent.reference}: {parent.workspace.name} has no integration of its own "
                f"with this one's Rally settings."
            )
            if row.attempts == 0:
                # Said once a row: an attempt counted got past here and said it (a create
                # whose answer was lost is looked for and adopted, not noted again).
                history.note(row, ActivityAction.SKIPPED, message)
            add = (
                f"integration built on “{source.name}” to {parent.workspace.name} so its "
                "records are linked as parents."
            )
            run.warn_once(
                f"parent:{parent.workspace_id}",
                message,
                f"Add an {add}"
                if source.is_template
                else f"Mark “{source.name}” Use as template (More options), then add an {add}",
            )
            continue
        link = one.link
        if link is None:
            link = _create_parent(
                parent, one.parent_type, row, run, integration=one.where, send_row=send_row
            )
        found[one.attribute] = RallyRef(ref=f"/{link.rally_type.lower()}/{link.rally_oid}")
    return found


def plan_parents_of(record, record_type: str, run: DrainRun, *, integration) -> list[PlannedParent]:
    """`planned_parents` as a drain asks: a parent this run just linked (a feature before its
    requirements) needs no query."""
    return planned_parents(
        record,
        record_type,
        run.config_for(integration),
        integration=integration,
        find_link=lambda where_id, parent_type, parent_id: (
            run.link_made(where_id, parent_type, parent_id)
            or link_of(where_id, parent_type, parent_id)
        ),
    )


def placeholder_refs(planned: list[PlannedParent], config) -> dict[str, RallyRef]:
    """Refs standing for the parents a send will fill in (linked or created first), so that
    what Rally requires is checked before any parent is created for a record Rally refuses."""
    refs: dict[str, RallyRef] = {}
    for one in planned:
        if one.where is None:
            continue
        if one.link is not None:
            link = one.link
            refs[one.attribute] = RallyRef(ref=f"/{link.rally_type.lower()}/{link.rally_oid}")
        else:
            # The child's configuration maps the parent's type (planned_parents checked).
            rally_type = config.mapping_for(one.parent_type).rally_type
            refs[one.attribute] = RallyRef(ref=f"/{rally_type.lower()}/0")
    return refs


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
