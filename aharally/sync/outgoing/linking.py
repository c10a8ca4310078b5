"""Link to an existing Rally record: asked for in the menu, found by FormattedID in Rally (in the
cluster), checked, then linked (no create).

A record may link only what Import from Rally could bring: a Rally object of the mapped type in
the integration's project or its children (`mapping.project_scope`). And one Rally object is
linked to one aharally record: integrations on the same Rally (a template group) may share a
link, as a feature's parent is shared, but a second record never links the same object.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.rally.errors import RallyError
from aharally.rally.objects import formatted_id as as_formatted_id
from aharally.rally.query import where
from aharally.records.models import Requirement
from aharally.sync import enqueue, history, mapping
from aharally.sync.links import AlreadyLinked, create_link
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    ErrorKind,
    ImportCandidate,
    ImportState,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.payload import build_payload
from aharally.sync.outgoing.run import DrainRun
from aharally.sync.records import load_record
from aharally.workspaces.models import RecordType


def request_link(*, record, integration: Integration, formatted_id: str, user) -> OutboxItem:
    """Queue a link to the Rally record `formatted_id` (checked in Rally by the cluster).

    Raises outbox.SyncError saying why not: a malformed FormattedID, one this integration links
    already, a record already linked or on its way to Rally.
    """

    formatted_id = as_formatted_id(formatted_id)
    if formatted_id is None:
        raise outbox.SyncError("Enter a Rally FormattedID such as F12 or US345.")
    taken = (
        Link.objects.filter(integration=integration, formatted_id=formatted_id)
        .select_related("integration")
        .first()
    )
    if taken is not None:
        raise outbox.SyncError(_already_linked(formatted_id, taken))
    outbox.check_can_send(integration)
    record_type = record.record_type
    with transaction.atomic():
        if Link.objects.filter(
            integration=integration, record_type=record_type, record_id=record.pk
        ).exists():
            raise outbox.SyncError(f"{record.reference} is already linked: unlink it first.")
        if (
            outbox.open_row(integration.pk, record_type, record.pk)
            or OutboxItem.objects.filter(
                integration=integration,
                record_type=record_type,
                record_id=record.pk,
                state=OutboxState.IN_FLIGHT,
            ).exists()
        ):
            raise outbox.SyncError(
                f"{record.reference} is being sent to Rally already; wait for it to finish."
            )
        row = OutboxItem.objects.create(
            integration=integration,
            record_type=record_type,
            record_id=record.pk,
            kind=OutboxKind.LINK,
            fields=[formatted_id],
            state=OutboxState.QUEUED,
            created_by=user,
        )
        enqueue.drain_on_commit(integration.pk)
    return row


def linked_elsewhere(
    *, integration: Integration, rally_oid: int, record_type: str, record_id: int
) -> Link | None:
    """The link of another record to this Rally object, if any: through this integration (in
    any state), or an OK one through any integration on the same Rally."""
    return (
        Link.objects.filter(rally_oid=rally_oid)
        .filter(
            Q(integration=integration) | Q(state=LinkState.OK, rally_site=integration.rally_site)
        )
        .exclude(record_type=record_type, record_id=record_id)
        .select_related("integration")
        .order_by("pk")
        .first()
    )


def _already_linked(formatted_id: str, link: Link) -> str:
    other = load_record(link.record_type, link.record_id)
    return (
        f"{formatted_id} is already linked to {getattr(other, 'reference', 'another record')} "
        f"through “{link.integration.name}”."
    )


def push_link(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    """Link a record to an existing Rally record by FormattedID, after checking it."""
    formatted_id = (row.fields or [""])[0]
    record = load_record(row.record_type, row.record_id)
    config = run.config_for(integration)
    record_mapping = config.mapping_for(row.record_type)
    if record is None or record_mapping is None:
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record or its mapping is gone.")
        return
    rally_type = record_mapping.rally_type
    found = run.client.query(
        rally_type,
        query=where("FormattedID", "=", formatted_id),
        fetch=["ObjectID", "FormattedID", "Name"],
        limit=1,
        **mapping.project_scope(config),
    ).first()
    if found is not None and (found.formatted_id or "").upper() != formatted_id.upper():
        found = None  # Rally matched the number alone (US12 asked, F12 found): not that record
    if found is None:
        message = _why_not_found(run, config, record_mapping, row.record_type, formatted_id)
        attempts.fail(row, kind=ErrorKind.NOT_FOUND, message=message)
        return
    values, _ = build_payload(record, record_mapping, run, config=config, creating=False)
    try:
        with transaction.atomic():
            # Checked in the transaction that links, so a link made meanwhile is seen.
            taken = linked_elsewhere(
                integration=integration,
                rally_oid=found.object_id,
                record_type=row.record_type,
                record_id=record.pk,
            )
            if taken is not None:
                attempts.fail(
                    row,
                    kind=ErrorKind.VALIDATION,
                    message=_already_linked(found.formatted_id or formatted_id, taken),
                )
                return
            create_link(
                integration=integration,
                record_type=row.record_type,
                record_id=record.pk,
                rally_type=rally_type,
                rally_oid=found.object_id,
                formatted_id=found.formatted_id or formatted_id,
                # Agreed as they stand: later edits in aharally are what is sent.
                baseline=values,
                linked_by=row.created_by,
            )
            attempts.finish(row, sent_values={})
            history.note(row, ActivityAction.LINKED, f"Linked to {formatted_id}", row.created_by)
            Integration.objects.filter(
                pk__in={integration.pk, integration.source.pk}, first_sent_at__isnull=True
            ).update(first_sent_at=timezone.now())
    except AlreadyLinked as taken:
        # Linked by another path between the check and the link (one transaction each way).
        held = taken.by_object if taken.by_record is None else taken.by_record
        message = (
            _already_linked(found.formatted_id or formatted_id, taken.by_object)
            if taken.by_record is None
            else f"{record.reference} is already linked to {held.label}."
        )
        attempts.fail(row, kind=ErrorKind.VALIDATION, message=message)


def _why_not_found(run: DrainRun, config, record_mapping, record_type: str, formatted_id) -> str:
    """Why the integration's project has no such record: it is in another project, it is
    another type of record, or Rally has none (one or two requests, on this path only).

    A FormattedID query may match the number alone (US12 finds F12 too): answers are searched
    for the whole FormattedID.
    """
    workspace = f"/workspace/{config.rally_workspace_oid}" if config.rally_workspace_oid else None
    try:
        for type_path in (record_mapping.rally_type, "Artifact"):
            for other in run.client.query(
                type_path,
                query=where("FormattedID", "=", formatted_id),
                fetch=["FormattedID", "Project"],
                workspace=workspace,
                limit=50,
            ):
                if (other.formatted_id or "").upper() != formatted_id.upper():
                    continue
                if other.type.lower() != record_mapping.rally_type.lower():
                    return (
                        f"{formatted_id} is a {other.type} in Rally, but "
                        f"{RecordType(record_type).label}s map to "
                        f"{record_mapping.rally_type_name}."
                    )
                project = other.ref_of("Project")
                return (
                    f"{formatted_id} is in Rally project "
                    f"{(project.name if project else None) or 'another project'}, outside this "
                    f"integration's project {config.rally_project_name} and its children."
                )
    except RallyError:
        pass
    return f"Rally has no {record_mapping.rally_type_name} {formatted_id}."


@transaction.atomic
def unlink_record(*, integration: Integration, record_type: str, record_id: int, user):
    """Stop syncing a record: both records stay, the link goes, waiting changes are dropped.

    Returns the removed link, or None when the record was not linked.
    """
    link = Link.objects.filter(
        integration=integration, record_type=record_type, record_id=record_id
    ).first()
    if link is None:
        return None
    OutboxItem.objects.filter(
        integration=integration,
        record_type=record_type,
        record_id=record_id,
        state__in=OPEN_STATES,
    ).update(state=OutboxState.REJECTED, error_message="Unlinked before it was sent.")
    if record_type == RecordType.FEATURE:
        # Its requirements' creates would make the feature again in Rally, as their parent
        # (the soak found the name twice): they wait for the feature to be sent again.
        OutboxItem.objects.filter(
            integration=integration,
            record_type=RecordType.REQUIREMENT,
            record_id__in=Requirement.objects.filter(feature_id=record_id).values("pk"),
            kind=OutboxKind.CREATE,
            state__in=OPEN_STATES,
        ).update(state=OutboxState.REJECTED, error_message="Its feature was unlinked first.")
    link.delete()
    # The Rally record stays too: it must not come back as a copy the next time it changes.
    record = load_record(record_type, record_id)
    ImportCandidate.objects.update_or_create(
        integration=integration,
        rally_oid=link.rally_oid,
        defaults={
            "record_type": record_type,
            "rally_type": link.rally_type,
            "formatted_id": link.formatted_id,
            "name": (getattr(record, "name", "") or link.label)[:255],
            "state": ImportState.IGNORED,
            "decided_by": user,
            "decided_at": timezone.now(),
        },
    )
    history.note(
        link,
        ActivityAction.UNLINKED,
        f"Unlinked from {link.label}; both records are kept.",
        user,
    )
    return link
