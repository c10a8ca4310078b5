"""Link to an existing Rally record: found by FormattedID, checked, then linked (no create)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.rally.errors import RallyError
from aharally.rally.query import where
from aharally.sync import mapping, outbox
from aharally.sync.links import site_of
from aharally.sync.models import (
    OPEN_STATES,
    Activity,
    ActivityAction,
    ErrorKind,
    Link,
    OutboxItem,
    OutboxState,
)
from aharally.sync.payload import build_payload
from aharally.sync.records import load_record
from aharally.sync.run import DrainRun
from aharally.workspaces.models import RecordType


def push_link(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    """Link a record to an existing Rally record by FormattedID, after checking it."""
    formatted_id = (row.fields or [""])[0]
    record = load_record(row.record_type, row.record_id)
    config = run.config_for(integration)
    record_mapping = config.mapping_for(row.record_type)
    if record is None or record_mapping is None:
        outbox.fail(row, kind=ErrorKind.CONFIG, message="The record or its mapping is gone.")
        return
    rally_type = record_mapping.rally_type
    found = run.client.query(
        rally_type,
        query=where("FormattedID", "=", formatted_id),
        fetch=["ObjectID", "FormattedID", "Name"],
        limit=1,
    ).first()
    if found is not None and (found.formatted_id or "").upper() != formatted_id.upper():
        found = None  # Rally matched the number alone (US12 asked, F12 found): not that record
    if found is None:
        other = _artifact_type(run, formatted_id)
        if other:
            message = (
                f"{formatted_id} is a {other} in Rally, but "
                f"{RecordType(row.record_type).label}s map to {record_mapping.rally_type_name}."
            )
        else:
            message = f"Rally has no {record_mapping.rally_type_name} {formatted_id}."
        outbox.fail(row, kind=ErrorKind.NOT_FOUND, message=message)
        return
    taken = Link.objects.filter(integration=integration, rally_oid=found.object_id).first()
    if taken is not None:
        other = load_record(taken.record_type, taken.record_id)
        outbox.fail(
            row,
            kind=ErrorKind.VALIDATION,
            message=f"{formatted_id} is already linked to {getattr(other, 'reference', 'one')}.",
        )
        return
    values, _ = build_payload(record, record_mapping, run, config=config, creating=False)
    try:
        with transaction.atomic():
            Link.objects.create(
                integration=integration,
                rally_site=site_of(integration),
                record_type=row.record_type,
                record_id=record.pk,
                rally_type=rally_type,
                rally_oid=found.object_id,
                formatted_id=found.formatted_id or formatted_id,
                url=mapping.detail_url(config.rally_url, rally_type, found.object_id),
                # Agreed as they stand: later edits in aharally are what is sent.
                baseline=values,
                linked_by=row.created_by,
            )
            outbox.finish(row, sent_values={})
            outbox.note(row, ActivityAction.LINKED, f"Linked to {formatted_id}", row.created_by)
            Integration.objects.filter(
                pk__in={integration.pk, integration.source.pk}, first_sent_at__isnull=True
            ).update(first_sent_at=timezone.now())
    except IntegrityError:
        outbox.fail(
            row, kind=ErrorKind.VALIDATION, message=f"{record.reference} is already linked."
        )


def _artifact_type(run: DrainRun, formatted_id: str) -> str:
    """What kind of Rally record has this FormattedID, if any (for a clear refusal).

    A FormattedID query may match the number alone (US12 finds F12 too): the answer is
    searched for the whole FormattedID.
    """
    try:
        found = run.client.query(
            "Artifact",
            query=where("FormattedID", "=", formatted_id),
            fetch=["FormattedID"],
            limit=50,
        )
        for other in found:
            if (other.formatted_id or "").upper() == formatted_id.upper():
                return other.type
    except RallyError:
        pass
    return ""


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
    link.delete()
    Activity.objects.create(
        integration=integration,
        record_type=record_type,
        record_id=record_id,
        action=ActivityAction.UNLINKED,
        detail=f"Unlinked from {link.formatted_id}; both records are kept.",
        user=user,
    )
    return link
