"""A comparison's report, line by line, and resolving its lines either way.

- a field that differs: *Use aharally's* queues an update through the outbox (Rally's value
  becomes the baseline first, so the push sees ours as the change); *Use Rally's* writes it here
  (history by the owner who chose it, source Rally, nothing sent back); both in
  `review/keep.py`, as a conflict's decision is. Each is offered only where the field's
  direction allows it, and refused when the record changed since the report (a value the
  owner did not see is never overwritten by their choice);
- a broken link: *Send again* (a new Rally record) or *Unlink* (both records stay);
- a Rally record aharally lacks: *Import*, through the import path.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aharally.integrations.templates_service import effective_config
from aharally.sync import custom_values, enqueue, history, mapping
from aharally.sync.incoming import imports
from aharally.sync.models import (
    ActivityAction,
    Comparison,
    Difference,
    DifferenceKind,
    Link,
    LinkState,
    OutboxState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.linking import unlink_record
from aharally.sync.records import load_records
from aharally.sync.review.conflicts import mapping_label
from aharally.sync.review.keep import NoMatch, keep_value

ACTIONS = {
    "ours": DifferenceKind.FIELD,
    "theirs": DifferenceKind.FIELD,
    "send": DifferenceKind.BROKEN,
    "unlink": DifferenceKind.BROKEN,
    "import": DifferenceKind.UNIMPORTED,
}


class ResolveError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ReportLine:
    difference: Difference
    record: object | None
    label: str
    ours: str
    theirs: str
    baseline: str
    can_use_ours: bool
    can_use_theirs: bool


# Parent lines (compare._parent_differences): the relation, as a person reads it. A parent
# goes from aharally to Rally only (the record is sent again, parents first).
PARENT_LABELS = {
    "initiative": "Initiative (Rally Parent)",
    "epic": "Epic (Rally Parent)",
    "release": "Release",
    "feature": "Feature (Rally PortfolioItem)",
}


def latest(integration) -> Comparison | None:
    return Comparison.objects.filter(integration=integration).first()


def report(comparison: Comparison) -> list[ReportLine]:
    """The open lines of a report with their records; queries don't grow with the lines."""
    differences = list(comparison.differences.filter(resolution="").select_related("link"))
    by_type: dict[str, set[int]] = {}
    for difference in differences:
        if difference.record_id:
            by_type.setdefault(difference.record_type, set()).add(difference.record_id)
    records = {}
    for record_type, ids in by_type.items():
        for pk, record in load_records(record_type, ids).items():
            records[(record_type, pk)] = record
    integration = comparison.integration
    directions = _directions(integration)
    specs = _custom_specs(integration, {d.record_type for d in differences if d.field})
    lines = []
    for difference in differences:
        field_name = difference.field
        direction = directions.get((difference.record_type, field_name))
        parent = field_name in PARENT_LABELS
        spec = specs.get((difference.record_type, field_name))
        if spec is not None:
            label = spec.label
        else:
            label = PARENT_LABELS[field_name] if parent else mapping_label(field_name)
        lines.append(
            ReportLine(
                difference=difference,
                record=records.get((difference.record_type, difference.record_id)),
                label=label if field_name else "",
                ours=_shown(spec, field_name, difference.ours),
                theirs=_shown(spec, field_name, difference.theirs),
                baseline=_shown(spec, field_name, difference.baseline),
                can_use_ours=parent or direction in mapping.SENT_ON_UPDATE,
                can_use_theirs=not parent and direction in mapping.SENT_TO_AHARALLY,
            )
        )
    return lines


def _shown(spec, field_name: str, value) -> str:
    """A value as the report shows it: a custom field's with its value map applied."""
    if spec is not None:
        return custom_values.shown(spec, value)
    return mapping.display(field_name, value)


def _custom_specs(integration, record_types) -> dict[tuple[str, str], custom_values.CustomSpec]:
    """{(record type, `cf_<key>`): spec} of the mapped custom fields (two queries a type
    mapping one, none otherwise)."""
    config = effective_config(integration)
    found = {}
    for record_mapping in config.record_mappings:
        if record_mapping.record_type not in record_types:
            continue
        specs = custom_values.specs_for(
            record_mapping.field_mappings,
            integration.workspace_id,
            record_type=record_mapping.record_type,
        )
        for name, spec in specs.items():
            found[(record_mapping.record_type, name)] = spec
    return found


def _directions(integration) -> dict[tuple[str, str], str]:
    config = effective_config(integration)
    return {
        (record_mapping.record_type, m.field): m.direction
        for record_mapping in config.record_mappings
        for m in record_mapping.field_mappings
    }


@transaction.atomic
def resolve(*, integration, user, difference_ids, action: str) -> tuple[int, list[str]]:
    """Resolve the chosen lines with one action; (how many, why the others were not)."""

    if action not in ACTIONS:
        raise ResolveError("Choose what to do with the selected lines.")
    comparison = latest(integration)
    lines = list(
        Difference.objects.select_for_update(of=("self",))
        .filter(pk__in=list(difference_ids), comparison=comparison, resolution="")
        .select_related("link")
    )
    if not lines:
        raise ResolveError("Those lines were resolved already, or belong to an older report.")
    config = effective_config(integration)
    directions = _directions(integration)
    done, problems, drain = 0, [], False
    for line in lines:
        if line.kind != ACTIONS[action]:
            problems.append(f"{line.formatted_id}: {_not_for(action)}")
            continue
        try:
            drain |= _resolve_one(line, action, integration, config, directions, user)
        except ResolveError as error:
            problems.append(f"{line.formatted_id}: {error.message}")
            continue
        Difference.objects.filter(pk=line.pk).update(
            resolution=action, resolved_by=user, resolved_at=timezone.now()
        )
        done += 1
    if drain:
        enqueue.drain_on_commit(integration.pk)
    return done, problems


def _not_for(action: str) -> str:
    return {
        DifferenceKind.FIELD: "only a field that differs can take one side's value.",
        DifferenceKind.BROKEN: "only a broken link can be sent again or unlinked.",
        DifferenceKind.UNIMPORTED: "only a record aharally lacks can be imported.",
    }[ACTIONS[action]]


def _resolve_one(line, action, integration, config, directions, user) -> bool:
    """One line; True when something now waits in the outbox."""
    if action == "import":
        record_mapping = config.mapping_for(line.record_type)
        if record_mapping is None:
            raise ResolveError("its type is no longer mapped.")
        outcome = imports.import_object(
            integration, config, record_mapping, line.snapshot, where=None, user=user
        )
        if outcome != imports.IMPORTED:
            raise ResolveError(f"{outcome}.")
        return False
    record = load_records(line.record_type, [line.record_id]).get(line.record_id)
    if record is None:
        raise ResolveError("the aharally record no longer exists.")
    if action == "unlink":
        unlink_record(
            integration=integration, record_type=line.record_type, record_id=record.pk, user=user
        )
        return False
    if action == "send":
        Link.objects.filter(pk=line.link_id, state=LinkState.OK).update(
            state=LinkState.BROKEN, state_reason="Not found in Rally (Compare with Rally)."
        )
        try:
            row = outbox.request_send(record=record, integration=integration, user=user)
        except outbox.SyncError as error:
            raise ResolveError(error.message) from None
        return row.state == OutboxState.QUEUED
    link = line.link
    if link is None or link.state != LinkState.OK:
        raise ResolveError("the link is gone or broken since the report.")
    if line.field in PARENT_LABELS:
        if action != "ours":
            raise ResolveError(
                "a parent goes from aharally to Rally only: use aharally's, or change it in "
                "aharally."
            )
        try:
            row = outbox.request_send(record=record, integration=integration, user=user)
        except outbox.SyncError as error:
            raise ResolveError(error.message) from None
        return row.state == OutboxState.QUEUED
    record_mapping = config.mapping_for(line.record_type)
    status_map = record_mapping.status_map if record_mapping else None
    direction = directions.get((line.record_type, line.field))
    if custom_values.is_custom(line.field):
        spec = _custom_specs(integration, {line.record_type}).get((line.record_type, line.field))
        if spec is None:
            raise ResolveError("the field is no longer mapped.")
        now = custom_values.record_value(record, spec, {line.field: spec})
    else:
        now = mapping.record_values(
            record,
            fields=[line.field],
            state_for=status_map.state_for if status_map else (lambda status: None),
        ).get(line.field)
    if now != line.ours:
        raise ResolveError(
            f"{record.reference}'s {mapping_label(line.field).lower()} changed since the "
            "report: compare again."
        )
    if action == "ours" and direction not in mapping.SENT_ON_UPDATE:
        raise ResolveError(f"{mapping_label(line.field)} is not sent to Rally.")
    if action == "theirs" and direction not in mapping.SENT_TO_AHARALLY:
        raise ResolveError(f"{mapping_label(line.field)} does not come from Rally.")
    try:
        queued = keep_value(
            link=link, record=record, field=line.field, theirs=line.theirs, keep=action, user=user
        )
    except NoMatch as error:
        raise ResolveError(error.message) from None
    if queued:
        history.note(
            link,
            ActivityAction.APPROVED,
            f"Kept aharally's {line.field} (Compare with Rally): sending it.",
            user,
        )
    else:
        history.note(
            link,
            ActivityAction.RECEIVED,
            f"Took Rally's {line.field} from {link.label} (Compare with Rally).",
            user,
        )
    return queued
