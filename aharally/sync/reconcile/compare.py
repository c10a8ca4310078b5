"""Compare with Rally: every linked record read from Rally and held against ours, field by field.

The task reads, per mapped type, the integration's project (children included) in one query at
Rally's largest page size, fetching the mapped fields only: one request a type for a project of
up to 2,000 objects of it, where asking by ObjectID costs one request per hundred links. The same
answer shows the Rally records under linked parents that aharally lacks. Linked objects missing
from it are then asked for by ObjectID (a hundred a query, the whole workspace): found, they
moved out of the project and are compared all the same; not found, the link is broken.

Values are normalised as the pull normalises them (`mapping.incoming_value` for Rally's,
`mapping.record_values` for ours) and a status is the same when Rally's state maps to the
record's status. Mapped custom fields are compared the same way (`custom_values`): a choice
as the Rally value its value map sends it to, their values read in one query a type; a field
holding a choice the map leaves out is not compared (it is never sent, and the record's
history says so). A field with an open conflict, or with a change waiting in the outbox, is left
out: Integration updates decides those already. A parent Rally lacks (or holds another of) is a
line too: its *Use aharally's* sends the record again, parents first.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from aharally.integrations.connection import RallyProblem, client_for, explain
from aharally.integrations.models import Direction, Integration
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import RallyAuthError, RallyError
from aharally.rally.query import where
from aharally.sync import custom_values, enqueue, mapping
from aharally.sync.agreement import PEOPLE_AND_TAGS, rally_value, same_value
from aharally.sync.incoming import imports
from aharally.sync.models import (
    OPEN_STATES,
    Comparison,
    Conflict,
    ConflictState,
    Difference,
    DifferenceKind,
    ImportCandidate,
    ImportState,
    JobState,
    Link,
    LinkState,
    OutboxItem,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.parents import PARENT_ATTRIBUTE, parent_integration
from aharally.sync.people import people_map
from aharally.sync.records import load_records

logger = logging.getLogger(__name__)

CHUNK = 100


def start_comparison(*, integration: Integration, user) -> Comparison:
    """Queue a comparison in the cluster (the page polls for its report)."""

    outbox.check_can_send(integration)
    comparison = Comparison.objects.create(integration=integration, created_by=user)
    enqueue.enqueue_on_commit(enqueue.COMPARE, comparison.pk)
    return comparison


def compared_fields(record_mapping) -> list[tuple[str, str, str]]:
    """(field, Rally field, direction) of the fields a comparison reads: any direction but
    *set once* (which is never kept in step), of the fields Rally's values can be read for
    (custom fields among them)."""
    return [
        (m.field, m.rally_field, m.direction)
        for m in record_mapping.field_mappings
        if (m.field in mapping.INCOMING_FIELDS or custom_values.is_custom(m.field))
        and m.direction != Direction.ONCE
    ]


# -- in the cluster ------------------------------------------------------------------------------


def run_comparison(comparison_id: int) -> dict:
    comparison = (
        Comparison.objects.select_related("integration__template", "integration__workspace")
        .filter(pk=comparison_id, state=JobState.RUNNING)
        .first()
    )
    if comparison is None:
        return {"reason": "no such comparison"}
    integration = comparison.integration
    counts = {"requests": 0, "read": 0}
    state, message = JobState.DONE, ""
    differences: list[Difference] = []
    try:
        config = effective_config(integration)
        client = client_for(integration, interactive=False)
        try:
            for record_mapping in config.record_mappings:
                differences += _compare_type(
                    comparison, integration, config, record_mapping, client, counts
                )
        finally:
            client.close()
    except RallyAuthError as error:
        state = JobState.FAILED
        message = explain(integration, error, doing="compare with Rally").message
    except (RallyProblem, RallyError) as error:
        state = JobState.FAILED
        message = f"Rally could not be read: {getattr(error, 'message', str(error))}"
    with transaction.atomic():
        if state == JobState.DONE:
            Difference.objects.bulk_create(differences)
        Comparison.objects.filter(pk=comparison.pk).update(
            state=state,
            message=message,
            requests=counts["requests"],
            objects_read=counts["read"],
            finished_at=timezone.now(),
        )
    return {**counts, "differences": len(differences)}


def _compare_type(comparison, integration, config, record_mapping, client, counts):
    record_type = record_mapping.record_type
    links = {
        link.rally_oid: link
        for link in Link.objects.filter(integration=integration, record_type=record_type)
    }
    # Records under linked parents are looked for among features and stories only (what the
    # import path can make), and only when something is linked at all.
    importable = (
        record_type in ("feature", "requirement")
        and Link.objects.filter(integration=integration).exists()
    )
    if not links and not importable:
        return []
    specs = custom_values.specs_for(
        record_mapping.field_mappings, integration.workspace_id, record_type=record_type
    )
    # A custom field gone from the workspace has nothing to compare.
    pairs = [
        (f, r, d)
        for f, r, d in compared_fields(record_mapping)
        if not custom_values.is_custom(f) or f in specs
    ]
    fetch = ["ObjectID", "FormattedID", "Name", "Project", *[r for _, r, _ in pairs]]
    if any(f == "assignee" for f, _, _ in pairs):
        fetch.append(mapping.OWNER_FETCH)
    fetch += imports.PARENT_FETCH.get(record_type, [])
    fetch = list(dict.fromkeys(fetch))
    seen: dict[int, object] = {}
    for page in client.query(
        record_mapping.rally_type,
        fetch=fetch,
        order="ObjectID",
        **mapping.project_scope(config),
    ).pages():
        counts["requests"] += 1
        for obj in page.results:
            if obj.object_id is not None:
                seen[obj.object_id] = obj
    counts["read"] += len(seen)
    missing = sorted(oid for oid, link in links.items() if oid not in seen)
    for start in range(0, len(missing), CHUNK):
        counts["requests"] += 1
        for obj in client.query(
            record_mapping.rally_type,
            query=where("ObjectID", "in", missing[start : start + CHUNK]),
            fetch=fetch,
            workspace=f"/workspace/{config.rally_workspace_oid}"
            if config.rally_workspace_oid
            else None,
        ):
            seen[obj.object_id] = obj
            counts["read"] += 1
    found: list[Difference] = []
    people = people_map(integration)
    found += _field_differences(comparison, record_mapping, links, seen, pairs, people, specs)
    found += _parent_differences(comparison, integration, config, record_mapping, links, seen)
    for oid, link in links.items():
        if oid not in seen:
            found.append(_line(comparison, DifferenceKind.BROKEN, link=link, name=""))
    if importable:
        found += _unimported(comparison, integration, config, record_mapping, links, seen)
    return found


def _line(comparison, kind, *, link=None, obj=None, record_mapping=None, **fields) -> Difference:
    return Difference(
        comparison=comparison,
        kind=kind,
        link=link,
        record_type=link.record_type if link else record_mapping.record_type,
        record_id=link.record_id if link else None,
        rally_type=link.rally_type if link else record_mapping.rally_type,
        rally_oid=link.rally_oid if link else obj.object_id,
        formatted_id=link.label if link else (obj.formatted_id or ""),
        **fields,
    )


NEVER_AGREED_WHEN_EMPTY = {*PEOPLE_AND_TAGS, "status"}


def _field_differences(
    comparison, record_mapping, links, seen, pairs, people, specs
) -> list[Difference]:
    live = [link for oid, link in links.items() if oid in seen and link.state == LinkState.OK]
    if not live:
        return []
    records = load_records(record_mapping.record_type, [link.record_id for link in live])
    custom_values.load(records.values(), specs)  # one query for every record's custom values
    busy = _busy_fields(record_mapping.record_type, live)
    status_map = record_mapping.status_map
    state_for = status_map.state_for if status_map else (lambda status: None)
    found = []
    for link in live:
        record = records.get(link.record_id)
        if record is None:
            continue
        obj = seen[link.rally_oid]
        ours = mapping.record_values(
            record, fields=[f for f, _, _ in pairs if f not in specs], state_for=state_for
        )
        for field_name, rally_field, _direction in pairs:
            if rally_field not in obj or field_name in busy.get(link.record_id, ()):
                continue
            if field_name in specs:
                spec = specs[field_name]
                if custom_values.unmapped_choices(record, spec, specs):
                    continue
                ours[field_name] = custom_values.record_value(record, spec, specs)
                theirs = custom_values.from_rally(spec, obj[rally_field], people)
            else:
                theirs = rally_value(field_name, obj[rally_field], people)
            if theirs is mapping.UNKNOWN:
                continue
            if (
                field_name in NEVER_AGREED_WHEN_EMPTY
                and field_name not in link.baseline
                and not theirs
            ):
                # As the pull and the import: never agreed (Rally has no such user, or its
                # state is "No Entry", which no status stands for), not a difference.
                continue
            if same_value(field_name, ours.get(field_name), theirs, record, status_map):
                continue
            found.append(
                _line(
                    comparison,
                    DifferenceKind.FIELD,
                    link=link,
                    field=field_name,
                    ours=ours.get(field_name),
                    theirs=theirs,
                    baseline=link.baseline.get(field_name),
                    name=(record.name or "")[:255],
                )
            )
    return found


def _parent_differences(comparison, integration, config, record_mapping, links, seen):
    """A linked record whose Rally object lacks the parent aharally gives it (or has another):
    the record was sent before its parent's integration existed, or Rally changed it. *Use
    aharally's* sends the record again, parents first."""
    record_type = record_mapping.record_type
    relations = [
        (relation, parent_type, PARENT_ATTRIBUTE[(relation, record_type)])
        for relation, parent_type in mapping.PARENT_FIELDS[record_type]
        if (relation, record_type) in PARENT_ATTRIBUTE
        and (parent_type, record_type) in config.relationship_links
        and config.mapping_for(parent_type) is not None
    ]
    live = [link for oid, link in links.items() if oid in seen and link.state == LinkState.OK]
    if not relations or not live:
        return []
    records = load_records(record_type, [link.record_id for link in live])
    busy = _busy_fields(record_type, live)
    reachable: dict[int, bool] = {}  # a parent's workspace: has it an integration to send by?
    found = []
    for relation, parent_type, attribute in relations:
        parents = {
            link.record_id: getattr(records[link.record_id], relation, None)
            for link in live
            if link.record_id in records
        }
        parent_links = {
            parent_link.record_id: parent_link.rally_oid
            for parent_link in Link.objects.filter(
                rally_site=integration.rally_site,
                record_type=parent_type,
                record_id__in={p.pk for p in parents.values() if p is not None},
                state=LinkState.OK,
            )
        }
        for link in live:
            parent = parents.get(link.record_id)
            if parent is None or getattr(parent, "is_parking_lot", False):
                continue
            if relation in busy.get(link.record_id, ()):
                continue
            if parent.workspace_id not in reachable:
                reachable[parent.workspace_id] = parent_integration(parent, integration) is not None
            if not reachable[parent.workspace_id]:
                continue  # nowhere to send it from: the send says so, not the report
            held = seen[link.rally_oid].ref_of(attribute)
            if held is not None and held.object_id == parent_links.get(parent.pk):
                continue
            if held is not None and parent.pk not in parent_links:
                continue  # Rally has a parent aharally's is not linked to: nothing to compare
            found.append(
                _line(
                    comparison,
                    DifferenceKind.FIELD,
                    link=link,
                    field=relation,
                    ours=f"{parent.reference} {parent.name}"[:255],
                    theirs=(held.name or str(held.object_id)) if held is not None else None,
                    name=(records[link.record_id].name or "")[:255],
                )
            )
    return found


def _busy_fields(record_type: str, links) -> dict[int, set[str]]:
    """Fields already waiting to be decided: an open conflict, or an outgoing change."""

    busy: dict[int, set[str]] = defaultdict(set)
    for record_id, fields in OutboxItem.objects.filter(
        integration_id=links[0].integration_id,
        record_type=record_type,
        record_id__in=[link.record_id for link in links],
        state__in=OPEN_STATES,
    ).values_list("record_id", "fields"):
        busy[record_id] |= set(fields or [])
    for record_id, field_name in Conflict.objects.filter(
        link__in=links, state=ConflictState.OPEN
    ).values_list("link__record_id", "field"):
        busy[record_id].add(field_name)
    return busy


def _unimported(comparison, integration, config, record_mapping, links, seen) -> list[Difference]:
    """Rally records under linked parents that aharally lacks (ignored ones left out)."""
    ignored = set(
        ImportCandidate.objects.filter(
            integration=integration, state=ImportState.IGNORED
        ).values_list("rally_oid", flat=True)
    )
    unlinked = [obj for oid, obj in seen.items() if oid not in links and oid not in ignored]
    # Their parents that aharally holds, read once for all of them (two queries).
    here = imports.parents_here(integration, config, record_mapping.record_type, unlinked)
    found = []
    for obj in unlinked:
        placed = imports.placement(
            integration, config, record_mapping.record_type, obj, parents=here
        )
        if placed is None or "feature_oid" in placed:
            continue
        found.append(
            _line(
                comparison,
                DifferenceKind.UNIMPORTED,
                obj=obj,
                record_mapping=record_mapping,
                name=(obj.name or "")[:255],
                snapshot=dict(obj.fields),
            )
        )
    return found
