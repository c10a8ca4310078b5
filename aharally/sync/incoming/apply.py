"""Applying what the catch-up read to linked records, by the baselines (DESIGN rule 4).

A value equal to the baseline is an echo (our own write coming back) and changes nothing; a
value changed in Rally only is applied, as made by the integration; a field changed on both
sides since the baseline is a conflict, never overwritten silently.

A page is applied in chunks of `CHUNK` objects, one transaction each: the chunk's links are
locked and its records read inside it, and each object is decided again against those
(a send may have written it since the page was read; a read older than the version the link's
baseline reflects changes nothing). What the chunk changes is written in a few statements
whatever its size: the records' fields and history rows, the activity lines and the links'
baselines in bulk. Objects whose read equals their link's baseline (our own writes coming
back, the common case) cost no statement at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.records.rows import update_each
from aharally.records.services import update_records
from aharally.sync import custom_values, history, links, listeners, mapping, policies
from aharally.sync.agreement import (
    changed_in_rally,
    open_conflict,
    rally_value,
    same_value,
    to_record_value,
)
from aharally.sync.custom_values import CustomSpec
from aharally.sync.models import ActivityAction, Link
from aharally.sync.people import PeopleMap
from aharally.sync.records import RELATED, SOURCE, model_for

# Objects a transaction: enough that its fixed statements (lock, read, writes) are a few
# hundredths of a statement an object, few enough that a send waits a short while for the
# links it locks (and, on SQLite, for the write lock).
CHUNK = 250


@dataclass
class Applied:
    fields: int = 0
    conflicts: int = 0
    # (ObjectID, LastUpdateDate) of each object that changed something here (a field or a
    # conflict): what the catch-up tells its listeners (the alerts compare it with webhooks).
    changed: list[tuple[int, str]] = field(default_factory=list)


def apply_rally_object(link, record, obj, pairs, record_mapping, people=None) -> tuple[int, int]:
    """Apply one Rally object to its record: (fields applied, conflicts).

    `link` was loaded with the page, and a send may have written the object since the page
    was read: so what is to be done is decided again under the link's lock, with the link and
    record as they are now (`record` is read again), and a read older than the version the
    baseline reflects changes nothing (its news is in a later read).
    """
    applied = apply_objects([(link, obj)], pairs, record_mapping, people)
    return applied.fields, applied.conflicts


def apply_objects(
    items: Sequence[tuple[Link, Any]],
    pairs,
    record_mapping,
    people: PeopleMap | None = None,
    specs: dict[str, CustomSpec] | None = None,
) -> Applied:
    """Apply Rally objects read with a page to their linked records ((link, object), the link
    as loaded with the page), a chunk a transaction; an Owner is said through `people`, the
    mapped custom fields are `specs` (`custom_values.specs_for`)."""
    specs = specs or {}
    # Only an object Rally changed since its link's baseline can have anything to do (the
    # others are our own writes coming back, the common case): the rest cost nothing, and
    # were one written since the read, its news is in a later read. Each object's values are
    # normalised once, here (sanitising a description is most of it), and planned from that.
    due = []
    for link, obj in items:
        incoming = _incoming_values(obj, pairs, people, specs)
        if _changed(link.baseline, incoming, specs):
            due.append((link, obj, incoming))
    applied = Applied()
    for start in range(0, len(due), CHUNK):
        _apply_chunk(due[start : start + CHUNK], pairs, record_mapping, applied, people, specs)
    return applied


def _incoming(field_name: str, value, people, specs) -> Any:
    spec = specs.get(field_name)
    if spec is not None:
        return custom_values.from_rally(spec, value, people)
    return rally_value(field_name, value, people)


def _changed_field(field_name: str, incoming, agreed: dict, specs) -> bool:
    if field_name in specs:
        return custom_values.changed_in_rally(field_name, incoming, agreed)
    return changed_in_rally(field_name, incoming, agreed)


def _incoming_values(obj, pairs, people, specs) -> dict[str, Any]:
    """Rally's normalised value of each mapped field `obj` has, by aharally field."""
    fields = getattr(obj, "fields", obj)
    return {
        field_name: _incoming(field_name, fields[rally_field], people, specs)
        for field_name, rally_field in pairs
        if rally_field in fields
    }


def _changed(agreed: dict, incoming: dict[str, Any], specs) -> bool:
    """Whether any field read differs from the baseline (`_plan` does nothing otherwise)."""
    return any(
        _changed_field(field_name, value, agreed, specs) for field_name, value in incoming.items()
    )


def _labels(changes, specs) -> str:
    """The changed fields as the history names them: "Name, Platforms" (a custom field by
    its layout's name, not its key)."""
    return ", ".join(
        sorted(
            specs[name].label if name in specs else FIELD_LABELS.get(name, name).split(" (")[0]
            for name in changes
        )
    )


def _apply_chunk(chunk, pairs, record_mapping, applied: Applied, people, specs) -> None:
    unknown_owners = []
    fields = {field_name for field_name, _ in pairs}
    with transaction.atomic():
        # Locked in one order (pk), so two chunks never wait for each other's locks. Only
        # what deciding reads and writes of them (the page's copies have the rest).
        fresh = {
            row.pk: row
            for row in Link.objects.select_for_update()
            .filter(pk__in=[link.pk for link, _, _ in chunk])
            .only("id", "baseline", "rally_version")
            .order_by("pk")
        }
        ids = [link.record_id for link, _, _ in chunk]
        records = _records(record_mapping.record_type, ids, fields)
        # The records' tags by name (one query), not a manager per record to read them.
        tags = _tag_names(record_mapping.record_type, ids) if "tags" in fields else None
        custom_values.load(records.values(), specs)  # the chunk's custom values: one query
        rules = policies.policies_of(record_mapping)
        decided = []
        for link, obj, incoming in chunk:
            row, record = fresh.get(link.pk), records.get(link.record_id)
            if row is None or record is None or links.is_stale(row, obj):
                continue  # unlinked, or the record deleted, since the page; or an older read
            plan = _plan(
                row.baseline,
                record,
                obj,
                pairs,
                record_mapping,
                people,
                rules,
                specs,
                incoming=incoming,
                tags=None if tags is None else tags.get(record.pk, []),
            )
            decided.append((link, row, record, obj, plan))
        # Tags are written through their manager: read for the records whose tags change.
        prefetch_related_objects(
            [record for _, _, record, _, plan in decided if "tags" in plan.changes], "tags"
        )
        taken = update_records(
            [(record, plan.changes) for _, _, record, _, plan in decided if plan.changes],
            user=None,
            source=SOURCE,
        )
        if decided:
            listeners.taken_from_rally(
                decided[0][0].integration_id,
                record_mapping.record_type,
                {record_id: names for record_id, names in taken.items() if names},
            )
        history.note_all(
            (
                (link, f"Took {_labels(plan.changes, specs)} from {link.label}")
                for link, _, _, _, plan in decided
                if plan.changes
            ),
            ActivityAction.RECEIVED,
        )
        # Rally's values no choice maps to: left out, and the record's history says so.
        history.note_all(
            ((link, said) for link, _, _, _, plan in decided for said in plan.not_applied),
            ActivityAction.NOT_APPLIED,
        )
        moved, now = [], timezone.now()
        for link, row, record, obj, plan in decided:
            version = links.newest_version(row, obj)
            if plan.baseline != row.baseline or version != row.rally_version:
                row.baseline, row.rally_version, row.updated_at = plan.baseline, version, now
                moved.append(row)
            link.baseline, link.rally_version = plan.baseline, version
            for field_name, ours, theirs, agreed in plan.conflicts:
                open_conflict(link, record, field_name, ours=ours, theirs=theirs, agreed=agreed)
            for field_name, ours, theirs, kept, policy in plan.settled:
                policies.say_decided(
                    link, record, field_name, ours=ours, theirs=theirs, kept=kept, policy=policy
                )
            if plan.resend:
                listeners.resend(link, plan.resend)
            applied.fields += len(plan.changes)
            applied.conflicts += len(plan.conflicts)
            if plan.changes or plan.conflicts or plan.settled:
                applied.changed.append((link.rally_oid, obj.get("LastUpdateDate") or ""))
            unknown_owners += [(link, record, email) for email in plan.unknown_owners]
        update_each(moved, ["baseline", "rally_version", "updated_at"])
    for link, record, email in unknown_owners:
        said = (
            f"{link.label}'s Owner in Rally is {email}, who is no one in "
            f"{record.workspace.name}: {record.reference}'s assignee is left as it is."
        )
        history.note(link, ActivityAction.OWNER_UNKNOWN, said)
        log_event(
            link.integration,
            LogLevel.WARNING,
            said,
            "Pair them with a member under More options → People, or invite them here.",
        )


def _records(record_type: str, ids: list[int], fields: set[str]) -> dict[int, Any]:
    """The chunk's records with the relations planning reads of them (the workspace, and the
    status and assignee when they are mapped), shared: a chunk's records have a workspace and
    a few statuses between them, and a select_related would make each row its own copies of
    those (most of the chunk's CPU). Their parents are not read: no incoming field is one."""
    related, _ = RELATED[record_type]
    wanted = [name for name in related if name == "workspace" or name in fields]
    model = model_for(record_type)
    # The columns planning and writing read (the mapped ones, and what history lines and
    # messages name), not the others (dates the writes set, parents, rank).
    columns = {f.name for f in model._meta.concrete_fields}
    read = ["id", "workspace", "reference", *sorted(columns & fields)]
    queryset = model.objects.filter(pk__in=ids).only(*read).order_by()
    return {record.pk: record for record in queryset.prefetch_related(*wanted)}


def _tag_names(record_type: str, ids: list[int]) -> dict[int, list[str]]:
    """{record id: its tags' names} of the chunk's records, in one query."""
    through = model_for(record_type)._meta.get_field("tags").remote_field.through
    owner = f"{model_for(record_type)._meta.model_name}_id"
    names: dict[int, list[str]] = {}
    for record_id, name in through.objects.filter(**{f"{owner}__in": ids}).values_list(
        owner, "tag__name"
    ):
        names.setdefault(record_id, []).append(name)
    return names


@dataclass
class _Plan:
    changes: dict[str, Any]
    baseline: dict[str, Any]
    conflicts: list[tuple[str, Any, Any, Any]]
    unknown_owners: list[str]
    moved: bool  # the baseline moves (both sides agree on a new value)
    # (field, ours, theirs, kept, policy): changed on both sides, settled by the field's policy.
    settled: list[tuple[str, Any, Any, str, str]] = field(default_factory=list)
    # Fields whose policy kept aharally's value: sent to Rally again.
    resend: list[str] = field(default_factory=list)
    # Why a Rally value was left out (a choice no value map entry matches): history lines.
    not_applied: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.changes or self.conflicts or self.moved or self.unknown_owners)


def _plan(
    agreed: dict,
    record,
    obj,
    pairs,
    record_mapping,
    people=None,
    rules=None,
    specs=None,
    *,
    incoming: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> _Plan:
    """What applying `obj` to `record` does, given the baseline `agreed`; a field changed on
    both sides goes by its conflict policy (`rules`, from `policies.policies_of`).

    `incoming`: Rally's values of `obj` as `_incoming_values` gives them (else read here);
    `tags`: the record's tags' names (else read through its manager)."""
    specs = specs or {}
    read = incoming if incoming is not None else _incoming_values(obj, pairs, people, specs)
    status_map = record_mapping.status_map
    state_for = status_map.state_for if status_map else (lambda status: None)
    baseline = dict(agreed)
    own = [f for f, _ in pairs if f not in specs and not (f == "tags" and tags is not None)]
    current = mapping.record_values(record, fields=own, state_for=state_for)
    if tags is not None and any(f == "tags" for f, _ in pairs):
        current["tags"] = mapping.normalise("tags", tags)
    for name, spec in specs.items():
        current[name] = custom_values.record_value(record, spec, specs)
    plan = _Plan(changes={}, baseline=baseline, conflicts=[], unknown_owners=[], moved=False)
    for field_name, rally_field in pairs:
        if field_name not in read:
            continue  # the object has no such field
        spec = specs.get(field_name)
        incoming = read[field_name]
        if not _changed_field(field_name, incoming, baseline, specs):
            continue  # unreadable, unchanged, or our own write coming back
        ours = current.get(field_name)
        if same_value(field_name, ours, incoming, record, status_map):
            baseline[field_name] = incoming  # both sides already agree
            plan.moved = True
            continue
        kept = None
        if field_name in baseline and not same_value(
            field_name, ours, baseline[field_name], record, status_map
        ):
            # Changed here too since the baseline: the field's conflict policy says who wins.
            policy = (rules or {}).get(field_name)
            kept = policies.decide(policy, record, obj, field_name) if policy else policies.ASK
            if kept == policies.OURS:
                # Rally's value becomes the agreed one, so ours is a change to send again.
                plan.settled.append((field_name, ours, incoming, kept, policy))
                plan.resend.append(field_name)
                baseline[field_name] = incoming
                plan.moved = True
                continue
            if kept == policies.ASK:
                plan.conflicts.append((field_name, ours, incoming, baseline[field_name]))
                continue
        if spec is not None:
            value = custom_values.to_record(
                spec, incoming, workspace_id=record.workspace_id, people=people
            )
        else:
            value = to_record_value(
                field_name, incoming, status_map, workspace=record.workspace, people=people
            )
        if value is custom_values.UNMAPPED:
            plan.not_applied.append(custom_values.not_applied(spec, rally_field, incoming))
            continue
        if value is mapping.UNKNOWN and spec is not None and kept != policies.THEIRS:
            plan.not_applied.append(
                f"Rally's {rally_field} is {incoming}, who is no one here: {spec.label} is left "
                "as it was. Pair them under More options → People."
            )
            continue
        if value is mapping.UNKNOWN:
            if kept == policies.THEIRS:
                # Rally's value can't be taken here (a status or person we lack): a reviewer.
                plan.conflicts.append((field_name, ours, incoming, baseline[field_name]))
            elif field_name == "assignee":
                plan.unknown_owners.append(incoming)
            continue
        if kept == policies.THEIRS:
            plan.settled.append((field_name, ours, incoming, kept, policy))
        plan.changes[field_name] = value
        baseline[field_name] = incoming
    return plan
