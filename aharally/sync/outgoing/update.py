"""Sending one claimed update row to Rally: the fields that changed since the link's
baseline, a field Rally may have changed read first and held back (`guarded_update`), its
place in the rank beside a linked sibling, and its parents when they changed."""

from __future__ import annotations

from django.db import transaction

from aharally.integrations.models import Integration
from aharally.rally.errors import RallyError
from aharally.rally.objects import RallyRef
from aharally.sync import history, mapping
from aharally.sync.models import (
    ActivityAction,
    ErrorKind,
    Link,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, guarded_update
from aharally.sync.outgoing.parents import link_of, resolve_parents
from aharally.sync.outgoing.payload import build_payload, differing_fields, mapping_label
from aharally.sync.outgoing.ranking import rank_parameter
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.sync.records import load_record
from aharally.workspaces.models import CustomFieldKind


def push_update(row: OutboxItem, run: DrainRun, *, integration: Integration, send_row) -> None:
    """Send the changed fields of a linked record (`send_row`: how a parent not yet in Rally
    is sent first, the push's own)."""
    link = link_of(integration.pk, row.record_type, row.record_id)
    if link is None:
        pending_create = OutboxItem.objects.filter(
            integration=integration,
            record_type=row.record_type,
            record_id=row.record_id,
            kind=OutboxKind.CREATE,
            state__in=[OutboxState.IN_FLIGHT, OutboxState.QUEUED],
        ).exists()
        if pending_create:
            raise Deferred
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record is not linked to Rally.")
        return
    record = load_record(row.record_type, row.record_id)
    if record is None:
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record was deleted in aharally.")
        return
    config = run.config_for(integration)
    record_mapping = config.mapping_for(row.record_type)
    if record_mapping is None:
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record type is no longer mapped.")
        return
    wanted = set(row.fields)
    parents = {}
    if wanted & {relation for relation, _ in mapping.PARENT_FIELDS[row.record_type]}:
        parents = resolve_parents(record, row, run, integration=integration, send_row=send_row)
    values, payload = build_payload(
        record, record_mapping, run, config=config, creating=False, parents=None, only=wanted
    )
    rally_fields = dict(mapping.fields_to_send(record_mapping.field_mappings, creating=False))
    changed = differing_fields(values, link=link, record=record, record_mapping=record_mapping)
    held = guarded_update.Held()
    specs = run.custom_specs(record_mapping, record.workspace_id)
    guarded = guarded_update.fields_to_guard(record_mapping, changed, specs)
    if guarded:
        # Rally has no conditional write, so a field Rally may have changed costs one read
        # first (an update is two requests): what Rally changed since the baseline is kept
        # out of the write. Read last, right before the write, to keep the window short.
        _count_attempt(row)
        held = guarded_update.hold_back(
            run.client,
            link=link,
            record=record,
            record_mapping=record_mapping,
            values=values,
            pairs=guarded,
            people=run.people() if _wants_people(guarded, specs) else None,
            specs=specs,
        )
        changed -= held.fields
    rank = None
    if "rank" in changed:
        rank = rank_parameter(record, row.record_type, integration.pk)
        if rank is None:
            # No sibling in Rally to rank against: nothing to send for it, and nothing to ask
            # again until it moves.
            link.baseline["rank"] = values["rank"]
            Link.objects.filter(pk=link.pk).update(baseline=link.baseline)
            changed.discard("rank")
    payload = {rally_fields[name]: payload[rally_fields[name]] for name in changed - {"rank"}}
    parent_paths = {attr: ref.path for attr, ref in parents.items()}
    for attribute, path in parent_paths.items():
        if link.baseline.get(f"_{attribute}") != path:
            payload[attribute] = RallyRef(ref=path)
    if not payload and rank is None:
        with transaction.atomic():
            guarded_update.settle(held, link=link, record=record, sent={})
            attempts.finish(row, sent_values={})
        return
    if not guarded:
        _count_attempt(row)
    try:
        written = run.client.update(
            f"/{link.rally_type.lower()}/{link.rally_oid}",
            payload,
            fetch=["ObjectID", "VersionId"],
            rank=rank,
        )
    except RallyError:
        with transaction.atomic():  # what the read found holds, whatever became of the write
            guarded_update.settle(held, link=link, record=record, sent={})
        raise
    sent = {name: values[name] for name in changed}
    with transaction.atomic():
        parent_baseline = {f"_{attr}": path for attr, path in parent_paths.items()}
        guarded_update.settle(
            held, link=link, record=record, sent={**sent, **parent_baseline}, written=written
        )
        attempts.finish(row, sent_values=sent)
        names = ", ".join(mapping_label(n) for n in sorted(changed)) or "its parents"
        history.note(row, ActivityAction.UPDATED, f"Sent {names}", row.decided_by or row.created_by)
        guarded_update.warn_if_raced(held, written, link=link, row=row, sent=set(sent))
    with run.lock:
        run.sent += 1


def _count_attempt(row: OutboxItem) -> None:
    row.attempts += 1
    OutboxItem.objects.filter(pk=row.pk).update(attempts=row.attempts)


def _wants_people(pairs, specs) -> bool:
    """Whether a guarded read judges a person (the assignee, a member custom field)."""
    return any(
        name == "assignee" or (name in specs and specs[name].field.kind == CustomFieldKind.MEMBER)
        for name, _ in pairs
    )
