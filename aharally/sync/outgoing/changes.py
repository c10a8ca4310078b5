"""Edits of linked records become outgoing changes (the records app calls us in its
transaction, through `records.hooks`)."""

from __future__ import annotations

from django.db.models import Q

from aharally.integrations.models import FieldMapping, Integration, RelationshipLink
from aharally.sync import enqueue
from aharally.sync.mapping import PARENT_FIELDS, SENT_ON_UPDATE
from aharally.sync.models import Link, LinkState, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.records import SOURCE
from aharally.workspaces.models import RecordType


def on_records_saved(*, saved, user, source, created) -> None:
    """Records edited together (one, or a bulk move's thousand) in a few queries whatever
    their number: their failed creates and their links are read once for all of them."""
    if source == SOURCE:
        return  # taken from Rally by the sync: never sent back
    if created:
        for record, _changed in saved:
            if record.record_type == RecordType.REQUIREMENT:
                _send_new_requirement(record, user=user)
        return
    changed_of = {(record.record_type, record.pk): changed for record, changed in saved}
    _retry_failed_sends(changed_of, user=user)
    sendable = _Sendable()
    changes = []
    for link in _links_of(changed_of):
        changed = changed_of[(link.record_type, link.record_id)]
        fields = sendable(link.integration, link.record_type, changed)
        if fields:
            changes.append(
                outbox.Change(link.integration, link.record_type, link.record_id, fields)
            )
    for integration_id in outbox.queue_changes(changes, user=user):
        enqueue.drain_on_commit(integration_id)


def _of_records(keys) -> Q:
    """The rows of these (record type, record id)s: one IN a record type."""
    ids: dict[str, list[int]] = {}
    for record_type, record_id in keys:
        ids.setdefault(record_type, []).append(record_id)
    found = Q(pk__in=[])
    for record_type, record_ids in ids.items():
        found |= Q(record_type=record_type, record_id__in=record_ids)
    return found


def _links_of(keys) -> list[Link]:
    return list(
        Link.objects.filter(_of_records(keys), state=LinkState.OK)
        .select_related("integration__template")
        .order_by("pk")
    )


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
    sendable = _Sendable()
    changes = []
    for link in others:
        if link.integration.rally_site == origin:
            continue  # the Rally the change came from (a record has one link into a Rally)
        fields = sendable(link.integration, record_type, changed[link.record_id])
        if fields:
            changes.append(outbox.Change(link.integration, record_type, link.record_id, fields))
    for due in outbox.queue_changes(changes, user=None):
        enqueue.drain_on_commit(due)


class _Sendable:
    """Which of a record's changed fields an integration sends on an update, each
    integration's mappings read once however many records are asked about."""

    def __init__(self) -> None:
        self._mapped: dict[tuple[int, str], set[str]] = {}
        self._parents: dict[tuple[int, str], set[str]] = {}

    def __call__(self, integration: Integration, record_type: str, changed) -> list[str]:
        source = integration.source
        key = (source.pk, record_type)
        if key not in self._mapped:
            self._mapped[key] = set(
                FieldMapping.objects.filter(
                    record_mapping__integration=source,
                    record_mapping__record_type=record_type,
                    direction__in=list(SENT_ON_UPDATE),
                ).values_list("field", flat=True)
            )
        relations = {relation: parent for relation, parent in PARENT_FIELDS[record_type]}
        wanted_relations = {name for name in changed if name in relations}
        if wanted_relations:
            if key not in self._parents:
                self._parents[key] = set(
                    RelationshipLink.objects.filter(
                        integration=source, child_type=record_type
                    ).values_list("parent_type", flat=True)
                )
            wanted_relations = {n for n in wanted_relations if relations[n] in self._parents[key]}
        return sorted((set(changed) & self._mapped[key]) | wanted_relations)


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


def _retry_failed_sends(keys, *, user) -> None:
    """A send Rally refused (say, a required field was empty) is tried again once the record
    changes, and waits for approval again where approval is needed."""
    failed = (
        OutboxItem.objects.filter(
            _of_records(keys), state=OutboxState.FAILED, kind=OutboxKind.CREATE
        )
        .select_related("integration__template")
        .order_by("pk")
    )
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
    if outbox.is_due(row.state, row.not_before):
        enqueue.drain_on_commit(row.integration_id)
