"""What a send will do with each record, decided in one place: the send (`outbox`) writes its
rows from this plan and the bulk send's preview (`preview.py`) shows it.

Database only, no Rally request: whether the integration can send at all, whether the
record's type is mapped, whether it is a parking lot or linked through another integration in
the same Rally (refused, and why), and otherwise a create (no link here, or a broken one) or a
full update (linked here). A few queries a record type, whatever the number of records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aharally.integrations.connection import check_secrets
from aharally.integrations.models import DISCUSSION_FIELDS, Integration, IntegrationState
from aharally.sync.mapping import PARENT_FIELDS
from aharally.sync.models import Link, LinkState, OutboxKind
from aharally.sync.records import record_type_of
from aharally.workspaces.models import RecordType


class SyncError(Exception):
    """A send that can't be made, explained for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_can_send(integration: Integration) -> None:
    """Refuse a send the integration can't make now, with what to do about it."""
    if integration.is_template and integration.state != IntegrationState.ENABLED:
        raise SyncError(f"The integration “{integration.name}” is not enabled.")
    if integration.state != IntegrationState.ENABLED:
        raise SyncError(
            f"The integration “{integration.name}” is not enabled: an owner can enable it in "
            "Settings → Integrations."
        )
    source = integration.source
    if check_secrets(integration) or source.needs_reauthorization:
        raise SyncError(
            f"The integration “{integration.name}” needs re-authorization with Rally: an owner "
            "can authorize it again in its settings. Nothing was sent."
        )
    if not (source.access_token or source.api_key):
        raise SyncError(f"The integration “{integration.name}” is not authorized with Rally yet.")


@dataclass
class PlannedSend:
    """One record's send: a create, an update of every mapped field, or refused."""

    record: object
    record_type: str
    kind: str = ""  # OutboxKind.CREATE or UPDATE; "" when refused
    fields: list[str] = field(default_factory=list)  # what an update sends
    link: Link | None = None  # its OK link through this integration (an update)
    refused: str = ""


@dataclass
class SendPlan:
    integration: Integration
    sends: list[PlannedSend]
    refused_all: str = ""  # the integration can't send now: nothing goes

    def first_refusal(self) -> str:
        return self.refused_all or next((s.refused for s in self.sends if s.refused), "")

    @property
    def accepted(self) -> list[PlannedSend]:
        return [send for send in self.sends if not send.refused]


def plan_sends(*, records: list, integration: Integration) -> SendPlan:
    """What sending these records through the integration does with each of them."""
    try:
        check_can_send(integration)
    except SyncError as error:
        return SendPlan(
            integration=integration,
            sends=[
                PlannedSend(record, record_type_of(record), refused=error.message)
                for record in records
            ],
            refused_all=error.message,
        )
    by_type: dict[str, list] = {}
    for record in records:
        by_type.setdefault(record_type_of(record), []).append(record)
    planned: dict[tuple[str, int], PlannedSend] = {}
    for record_type, of_type in by_type.items():
        for send in _plan_of_type(record_type, of_type, integration):
            planned[(record_type, send.record.pk)] = send
    return SendPlan(
        integration=integration,
        sends=[planned[(record_type_of(record), record.pk)] for record in records],
    )


def _plan_of_type(record_type: str, records: list, integration: Integration) -> list[PlannedSend]:
    sends = [PlannedSend(record, record_type) for record in records]
    for send in sends:
        if record_type == RecordType.RELEASE and getattr(send.record, "is_parking_lot", False):
            send.refused = (
                f"{send.record.name} is a parking lot: parking lots are never sent to Rally."
            )
    mapping = integration.source.record_mappings.filter(record_type=record_type).first()
    if mapping is None:
        message = (
            f"{RecordType(record_type).label}s are not mapped to a Rally type in “"
            f"{integration.name}”: an owner can map them in the integration's mappings."
        )
        for send in sends:
            send.refused = send.refused or message
        return sends
    ids = [record.pk for record in records]
    linked = Link.objects.filter(
        rally_site=integration.rally_site,
        record_type=record_type,
        record_id__in=ids,
        state=LinkState.OK,
    ).select_related("integration")
    here: dict[int, Link] = {}
    elsewhere: dict[int, Link] = {}
    for link in linked:
        (here if link.integration_id == integration.pk else elsewhere)[link.record_id] = link
    fields = everything(mapping, record_type) if here else []
    for send in sends:
        if send.refused:
            continue
        pk = send.record.pk
        if pk in elsewhere:
            link = elsewhere[pk]
            send.refused = (
                f"{send.record.reference} is linked to {link.label} through "
                f"“{link.integration.name}”, in the same Rally: a record has one Rally record. "
                "Send it through that integration, or unlink it there first."
            )
        elif pk in here:
            # Linked: a full update. Not linked, or its link broken: a new Rally record
            # (whose link replaces the broken one).
            send.kind, send.fields, send.link = OutboxKind.UPDATE, list(fields), here[pk]
        else:
            send.kind = OutboxKind.CREATE
    return sends


def everything(record_mapping, record_type: str) -> list[str]:
    """What sending a linked record again sends: every mapped field, and its parents (one
    whose integration came after the record's send gets its Rally parent now)."""
    fields = list(
        record_mapping.field_mappings.exclude(field__in=DISCUSSION_FIELDS).values_list(
            "field", flat=True
        )
    )
    return fields + [relation for relation, _ in PARENT_FIELDS.get(record_type, [])]
