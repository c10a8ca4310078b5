"""Edits of linked records become outgoing changes (the records app calls us in its
transaction, through `records.hooks`)."""

from __future__ import annotations

from aharally.integrations.models import FieldMapping, Integration, RelationshipLink
from aharally.sync import enqueue
from aharally.sync.mapping import PARENT_FIELDS, SENT_ON_UPDATE
from aharally.sync.models import Link, LinkState, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.records import SOURCE
from aharally.workspaces.models import RecordType


def on_record_saved(*, record, changed, user, source, created) -> None:
    if source == SOURCE:
        return  # taken from Rally by the sync: never sent back
    if created:
        if record.record_type == RecordType.REQUIREMENT:
            _send_new_requirement(record, user=user)
        return
    _retry_failed_sends(record, user=user)
    links = list(
        Link.objects.filter(
            record_type=record.record_type, record_id=record.pk, state=LinkState.OK
        ).select_related("integration__template")
    )
    for link in links:
        fields = sendable_changes(link.integration, record.record_type, changed)
        if not fields:
            continue
        row = outbox.queue_change(
            integration=link.integration,
            record_type=record.record_type,
            record_id=record.pk,
            fields=fields,
            user=user,
        )
        _enqueue_if_due(row)


def forward_taken(integration_id: int, record_type: str, changed: dict[int, list[str]]) -> None:
    """Fields taken from one Rally go on to every other Rally their records are linked into
    (a second Rally URL), as an edit made here goes: never back to the Rally they came from,
    which holds them (any integration on it, a template group's too). One query when no
    record is linked through another integration."""
    others = list(
        Link.objects.filter(
            record_type=record_type, record_id__in=list(changed), state=LinkState.OK
        )
        .exclude(integration_id=integration_id)
        .select_related("integration__template")
    )
    if not others:
        return
    origin = Integration.objects.select_related("template").get(pk=integration_id).rally_site
    for link in others:
        if link.integration.rally_site == origin:
            continue  # the Rally the change came from (a record has one link into a Rally)
        fields = sendable_changes(link.integration, record_type, changed[link.record_id])
        if fields:
            row = outbox.queue_change(
                integration=link.integration,
                record_type=record_type,
                record_id=link.record_id,
                fields=fields,
                user=None,
            )
            _enqueue_if_due(row)


def sendable_changes(integration: Integration, record_type: str, changed) -> list[str]:
    """Which of the changed fields this integration sends on an update."""
    source = integration.source
    mapped = set(
        FieldMapping.objects.filter(
            record_mapping__integration=source,
            record_mapping__record_type=record_type,
            direction__in=list(SENT_ON_UPDATE),
        ).values_list("field", flat=True)
    )
    relations = {relation: parent for relation, parent in PARENT_FIELDS[record_type]}
    wanted_relations = {name for name in changed if name in relations}
    if wanted_relations:
        linked_parents = set(
            RelationshipLink.objects.filter(integration=source, child_type=record_type).values_list(
                "parent_type", flat=True
            )
        )
        wanted_relations = {n for n in wanted_relations if relations[n] in linked_parents}
    return sorted((set(changed) & mapped) | wanted_relations)


def forward_imported(integration_id: int, record) -> None:
    """A story imported from one Rally, under a feature linked into another Rally as well,
    follows the feature there as a requirement made here would: never back to its own Rally
    (any integration on it)."""
    if record.record_type == RecordType.REQUIREMENT:
        _send_new_requirement(record, user=None, came_through=integration_id)


def _send_new_requirement(requirement, *, user, came_through: int | None = None) -> None:
    """A requirement added to a linked feature follows it to Rally as a story (one that
    `came_through` an integration from its Rally goes to the feature's other Rallys)."""
    links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id=requirement.feature_id, state=LinkState.OK
    ).select_related("integration__template")
    if came_through is not None:
        links = list(links.exclude(integration_id=came_through))
        if not links:
            return
        origin = Integration.objects.select_related("template").get(pk=came_through).rally_site
        links = [link for link in links if link.integration.rally_site != origin]
    for link in links:
        source = link.integration.source
        if not source.relationship_links.filter(
            parent_type=RecordType.FEATURE, child_type=RecordType.REQUIREMENT
        ).exists():
            continue
        if not source.record_mappings.filter(record_type=RecordType.REQUIREMENT).exists():
            continue
        row = outbox.write_row(
            integration=link.integration,
            record_type=RecordType.REQUIREMENT,
            record_id=requirement.pk,
            kind=OutboxKind.CREATE,
            user=user,
        )
        _enqueue_if_due(row)


def _retry_failed_sends(record, *, user) -> None:
    """A send Rally refused (say, a required field was empty) is tried again once the record
    changes, and waits for approval again where approval is needed."""
    failed = OutboxItem.objects.filter(
        record_type=record.record_type,
        record_id=record.pk,
        state=OutboxState.FAILED,
        kind=OutboxKind.CREATE,
    ).select_related("integration__template")
    for row in failed:
        again = outbox.write_row(
            integration=row.integration,
            record_type=row.record_type,
            record_id=row.record_id,
            kind=OutboxKind.CREATE,
            user=user,
        )
        _enqueue_if_due(again)


def _enqueue_if_due(row: OutboxItem) -> None:

    if row.state == OutboxState.QUEUED and row.not_before is None:
        integration_id = row.integration_id
        enqueue.drain_on_commit(integration_id)
