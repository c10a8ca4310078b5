"""A bulk send's preview: what it will create, update and refuse in Rally, and its cost.

Computed by the send's own code, never a second copy of its rules: `planning.plan_sends`
(create, update or refused), `parents.planned_parents` (the parents that go first, linked here
or through another workspace on the template), `payload.payload_for_create` (the pre-check of
what Rally requires, made before any parent is created), `payload.differing_fields` (what an
update sends) and `cascade.requirements_to_follow` (the requirements that follow a created
feature as stories). It asks Rally nothing: Rally's types and states come from what the drains
keep (`integrations.rally_metadata`; read from Rally, and then kept, only when nothing is),
people from People, tags by name. A few queries a record type, whatever the selection's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aharally.integrations.connection import client_for
from aharally.integrations.models import Integration, IntegrationState
from aharally.integrations.rally_metadata import MetadataCache
from aharally.integrations.templates_service import effective_config
from aharally.rally.objects import RallyRef
from aharally.rally.transport import RALLY_CONCURRENCY_PER_USER
from aharally.sync import mapping
from aharally.sync.models import Link, LinkState, OutboxKind
from aharally.sync.outgoing import guarded_update
from aharally.sync.outgoing.cascade import follows_features, requirements_to_follow
from aharally.sync.outgoing.lookups import Lookups
from aharally.sync.outgoing.parents import (
    PlannedParent,
    placeholder_refs,
    plan_parents_of,
    planned_parents,
)
from aharally.sync.outgoing.payload import (
    build_payload,
    differing_fields,
    first_missing,
    mapping_label,
    payload_for_create,
)
from aharally.sync.outgoing.planning import plan_sends
from aharally.sync.outgoing.run import DrainRun
from aharally.sync.records import load_records, record_type_of
from aharally.workspaces.models import RecordType

# What one Rally write takes, for the estimate of time (the sandbox answers in ~0.05 s, Rally's
# cloud in 0.3 to 1 s): an order of magnitude, said as "about".
SECONDS_PER_REQUEST = 0.5
IN_FLIGHT = RALLY_CONCURRENCY_PER_USER

NOUNS = {
    RecordType.FEATURE: ("feature", "features"),
    RecordType.REQUIREMENT: ("story", "stories"),
    RecordType.INITIATIVE: ("initiative", "initiatives"),
    RecordType.EPIC: ("epic", "epics"),
    RecordType.RELEASE: ("release", "releases"),
}
# Parents first, then what the selection holds, then what follows: the order of the waves.
ORDER = [
    RecordType.INITIATIVE,
    RecordType.EPIC,
    RecordType.RELEASE,
    RecordType.FEATURE,
    RecordType.REQUIREMENT,
]


def count_of(record_type: str, count: int) -> str:
    singular, plural = NOUNS.get(record_type, (record_type, record_type + "s"))
    return f"{count} {singular if count == 1 else plural}"


def and_join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass
class Refused:
    record: object
    reason: str  # the whole of it, with what to do
    short: str  # for the summary line


@dataclass
class Update:
    record: object
    link: Link
    fields: list[str]  # the labels of the fields that differ from the link's baseline
    requests: int


@dataclass
class SendPreview:
    integration: Integration
    selected: list
    creates: list = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    # Parents created first, by type, each once: (record, the integration it is linked through).
    parents: dict[str, list[tuple[object, Integration]]] = field(default_factory=dict)
    stories: int = 0  # requirements created after their feature
    # Requirements that would follow as stories but that Rally would refuse (each fails
    # alone when sent; its feature still goes).
    refused_stories: list[Refused] = field(default_factory=list)
    moved_stories: int = 0  # requirements in Rally already, put under their new feature
    notes: list[str] = field(default_factory=list)

    @property
    def created_by_type(self) -> list[tuple[str, int]]:
        """How many Rally objects each type gains, parents first."""
        counts: dict[str, int] = {t: len(found) for t, found in self.parents.items()}
        for record in self.creates:
            counts[record_type_of(record)] = counts.get(record_type_of(record), 0) + 1
        if self.stories:
            counts[RecordType.REQUIREMENT] = counts.get(RecordType.REQUIREMENT, 0) + self.stories
        return [(t, counts[t]) for t in ORDER if counts.get(t)]

    @property
    def requests(self) -> int:
        """Rally requests the send makes: one a create, one or two an update (a field Rally
        may have changed is read first), none for an update with nothing to send."""
        parents = sum(len(found) for found in self.parents.values())
        updates = sum(update.requests for update in self.updates)
        return parents + len(self.creates) + updates + self.stories + self.moved_stories

    @property
    def seconds(self) -> float:
        """Parents go first, the selection next, its stories last: each wave at most
        IN_FLIGHT requests at a time."""
        parents = sum(len(found) for found in self.parents.values())
        middle = len(self.creates) + sum(update.requests for update in self.updates)
        waves = [parents, middle, self.stories + self.moved_stories]
        return sum(math.ceil(n / IN_FLIGHT) for n in waves) * SECONDS_PER_REQUEST

    @property
    def changed_fields(self) -> list[str]:
        return sorted({label for update in self.updates for label in update.fields})

    def summary(self) -> str:
        """One line: "12 features: 8 to create with 2 initiatives and 17 stories, 3 to update
        (name, status), 1 refused: Planned End Date is required in Rally"."""
        by_type: dict[str, int] = {}
        for record in self.selected:
            by_type[record_type_of(record)] = by_type.get(record_type_of(record), 0) + 1
        head = and_join([count_of(t, n) for t, n in sorted(by_type.items(), key=_in_order)])
        parts = []
        first = sorted(self.parents.items(), key=_in_order)
        if self.creates:
            extra = [count_of(t, len(found)) for t, found in first]
            if self.stories:
                extra.append(count_of(RecordType.REQUIREMENT, self.stories))
            parts.append(
                f"{len(self.creates)} to create" + (f" with {and_join(extra)}" if extra else "")
            )
        elif self.parents:
            extra = [count_of(t, len(found)) for t, found in first]
            parts.append(f"{and_join(extra)} to create first")
        if self.updates:
            fields = ", ".join(label.lower() for label in self.changed_fields) or "nothing differs"
            parts.append(f"{len(self.updates)} to update ({fields})")
        if self.refused:
            reasons = list(dict.fromkeys(refused.short for refused in self.refused))
            parts.append(f"{len(self.refused)} refused: {'; '.join(reasons)}")
        if self.refused_stories:
            reasons = list(dict.fromkeys(refused.short for refused in self.refused_stories))
            parts.append(
                f"{count_of(RecordType.REQUIREMENT, len(self.refused_stories))} refused: "
                f"{'; '.join(reasons)}"
            )
        return f"{head}: {', '.join(parts) or 'nothing to send'}"


def _in_order(item) -> int:
    return ORDER.index(item[0]) if item[0] in ORDER else len(ORDER)


class _LazyClient:
    """The integration's client, built only should a look-up find nothing kept."""

    def __init__(self, integration: Integration) -> None:
        self._integration = integration
        self._client = None

    def __getattr__(self, name: str):
        if self._client is None:
            self._client = client_for(self._integration)
        return getattr(self._client, name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class _PreviewLookups(Lookups):
    """The drain's look-ups, minus what would ask Rally for more than kept metadata: a person
    not kept is taken as unmatched (the Owner is not sent), tags stand in by name (a send
    finds or creates them)."""

    def user_ref(self, email: str) -> RallyRef | None:
        return self._kept_value("users", email.strip().lower())

    def tag_refs(self, names) -> list[RallyRef]:
        return [RallyRef(ref="/tag/0", name=name) for name in dict.fromkeys(names) if name]


@dataclass
class _PreviewRun(DrainRun):
    """A drain run that sends nothing and logs nothing: its warnings become the preview's
    notes."""

    notes: list[str] = field(default_factory=list)

    def warn_once(self, key: str, message: str, hint: str = "") -> None:
        if DrainRun.first_time(self, key):
            self.notes.append(message)

    def first_time(self, key: str) -> bool:
        # An unmatched person is said by the send, not by looking at it beforehand.
        return False if key.startswith("user:") else DrainRun.first_time(self, key)


def preview_sends(*, records: list, integration: Integration) -> SendPreview:
    """What sending these records (in this order) through the integration will do."""
    records = _loaded(records)
    preview = SendPreview(integration=integration, selected=records)
    plan = plan_sends(records=records, integration=integration)
    for send in plan.sends:
        if send.refused:
            preview.refused.append(Refused(send.record, send.refused, send.refused))
    if plan.refused_all or not plan.accepted:
        return preview
    config = effective_config(integration)
    client = _LazyClient(integration)
    run = _PreviewRun(
        integration=integration,
        config=config,
        client=client,
        lookups=_PreviewLookups(client, kept=MetadataCache.of(integration, config)),
    )
    try:
        _preview_accepted(preview, plan.accepted, run, config)
    finally:
        client.close()
    preview.notes = run.notes
    return preview


def _preview_accepted(preview: SendPreview, sends, run: _PreviewRun, config) -> None:
    integration = preview.integration
    find_link, where_linked = _parent_lookups([send.record for send in sends], integration)
    planned_of = {
        id(send): planned_parents(
            send.record,
            send.record_type,
            config,
            integration=integration,
            find_link=find_link,
            where_linked=where_linked,
        )
        for send in sends
    }
    parents: dict[tuple[int, str, int], tuple[object, Integration, str]] = {}
    for planned in planned_of.values():
        for one in _parents_to_create(planned):
            parents.setdefault(_key(one), (one.parent, one.where, one.parent_type))
    # A parent Rally would refuse fails each record that needs it (parents.ParentFailed).
    parent_refusals = _parent_refusals(parents, run)
    created_features, going = [], []
    for send in sends:
        record, record_mapping = send.record, config.mapping_for(send.record_type)
        planned = planned_of[id(send)]
        if send.kind == OutboxKind.CREATE:
            # The record's own fields first, as push_create checks them before its parents.
            refs = placeholder_refs(planned, config)
            _values, payload, missing = payload_for_create(
                record, record_mapping, run, config=config, parents=refs
            )
            if missing:
                attribute, _field = first_missing(record_mapping, run, payload)
                preview.refused.append(
                    Refused(record, missing, f"{attribute} is required in Rally")
                )
                continue
        failed = next(
            (parent_refusals[_key(one)] for one in planned if _key(one) in parent_refusals), None
        )
        if failed is not None:
            preview.refused.append(Refused(record, *failed))
            continue
        going.append(send)
        if send.kind == OutboxKind.CREATE:
            preview.creates.append(record)
            if send.record_type == RecordType.FEATURE:
                created_features.append(record)
        else:
            preview.updates.append(_update(send, record_mapping, run, config, planned))
    # Only the parents of records that go are created (a refused record creates none), and a
    # parent the selection creates anyway (Send release: the release) is made once.
    needed = {_key(one) for send in going for one in _parents_to_create(planned_of[id(send)])}
    needed -= {(integration.pk, record_type_of(r), r.pk) for r in preview.creates}
    parents = {key: found for key, found in parents.items() if key in needed}
    for parent, where, parent_type in parents.values():
        preview.parents.setdefault(parent_type, []).append((parent, where))
    if created_features and follows_features(config):
        found = requirements_to_follow(
            integration=integration, feature_ids=[f.pk for f in created_features]
        )
        for requirements in found.values():
            preview.stories += sum(1 for _pk, linked, _row in requirements if not linked)
            preview.moved_stories += sum(1 for _pk, linked, _row in requirements if linked)
        new_stories = [pk for found_ in found.values() for pk, linked, _ in found_ if not linked]
        _refuse_stories(preview, new_stories, run, config)
    # In the order the person selected them.
    order = {id(record): i for i, record in enumerate(preview.selected)}
    preview.refused.sort(key=lambda refused: order.get(id(refused.record), -1))


def _refuse_stories(preview: SendPreview, ids: list[int], run: _PreviewRun, config) -> None:
    """The stories that would follow whose own required Rally fields are empty: the same
    check as the push's before their create (their feature stands for its Rally object)."""
    record_mapping = config.mapping_for(RecordType.REQUIREMENT)
    if not ids or record_mapping is None:
        return
    integration = preview.integration
    requirements = list(load_records(RecordType.REQUIREMENT, ids).values())
    find_link, where_linked = _parent_lookups(requirements, integration)
    for requirement in sorted(requirements, key=lambda r: (r.feature_id, r.rank, r.pk)):
        planned = planned_parents(
            requirement,
            RecordType.REQUIREMENT,
            config,
            integration=integration,
            find_link=find_link,
            where_linked=where_linked,
        )
        _values, payload, missing = payload_for_create(
            requirement,
            record_mapping,
            run,
            config=config,
            parents=placeholder_refs(planned, config),
        )
        if missing:
            attribute, _field = first_missing(record_mapping, run, payload)
            preview.refused_stories.append(
                Refused(requirement, missing, f"{attribute} is required in Rally")
            )
            preview.stories -= 1


def _key(one: PlannedParent) -> tuple[int, str, int]:
    return (one.where.pk if one.where else 0, one.parent_type, one.parent.pk)


def _parent_refusals(parents: dict, run: _PreviewRun) -> dict[tuple, tuple[str, str]]:
    """(reason, short reason) by parent, for the parents to create that Rally would refuse:
    the pre-check the parent's own create makes (inside its child's send, with the same
    look-ups). A few queries a parent type."""
    by_type: dict[tuple[int, str], list] = {}
    for key, (parent, where, parent_type) in parents.items():
        by_type.setdefault((where.pk, parent_type), []).append((key, parent, where))
    refusals: dict[tuple, tuple[str, str]] = {}
    for (_where_id, parent_type), found in by_type.items():
        loaded = load_records(parent_type, [parent.pk for _, parent, _ in found])
        for key, parent, where in found:
            parent = loaded.get(parent.pk, parent)
            config = run.config_for(where)
            record_mapping = config.mapping_for(parent_type)
            refs = placeholder_refs(
                plan_parents_of(parent, parent_type, run, integration=where), config
            )
            _values, payload, missing = payload_for_create(
                parent, record_mapping, run, config=config, parents=refs
            )
            if missing:
                attribute, _field = first_missing(record_mapping, run, payload)
                singular = NOUNS.get(parent_type, (parent_type,))[0]
                refusals[key] = (
                    f"{parent.reference} has to be in Rally first, and Rally would refuse it: "
                    f"{missing}",
                    f"its {singular}'s {attribute} is required in Rally",
                )
    return refusals


def _parents_to_create(planned: list[PlannedParent]) -> list[PlannedParent]:
    return [one for one in planned if one.where is not None and one.link is None]


def _update(send, record_mapping, run, config, planned) -> Update:
    """The fields whose values differ from the link's baseline: what push_update sends."""
    record, link = send.record, send.link
    values, _payload = build_payload(
        record, record_mapping, run, config=config, creating=False, only=set(send.fields)
    )
    changed = differing_fields(values, link=link, record=record, record_mapping=record_mapping)
    labels = [mapping_label(name) for name in sorted(changed)]
    moved = any(
        one.link is None or link.baseline.get(f"_{one.attribute}") != _path(one.link)
        for one in planned
        if one.where is not None
    )
    if moved:
        labels.append("Parent")
    requests = 0
    if changed or moved:
        requests = 1 + (1 if guarded_update.fields_to_guard(record_mapping, changed) else 0)
    return Update(record=record, link=link, fields=labels, requests=requests)


def _path(link: Link) -> str:
    return RallyRef(ref=f"/{link.rally_type.lower()}/{link.rally_oid}").path


def _loaded(records: list) -> list:
    """The records again with what the send reads of them (a few queries a type)."""
    by_type: dict[str, list[int]] = {}
    for record in records:
        by_type.setdefault(record_type_of(record), []).append(record.pk)
    loaded = {
        (record_type, pk): record
        for record_type, ids in by_type.items()
        for pk, record in load_records(record_type, ids).items()
    }
    return [loaded.get((record_type_of(r), r.pk), r) for r in records]


def _parent_lookups(records: list, integration: Integration):
    """`planned_parents`' questions answered from two queries for the whole selection: the
    parents' OK links, and the template group's integrations by workspace."""
    parents = [
        (parent_type, getattr(record, relation, None))
        for record in records
        for relation, parent_type in mapping.PARENT_FIELDS[record_type_of(record)]
    ]
    parents = [(t, p) for t, p in parents if p is not None]
    links = {
        (link.integration_id, link.record_type, link.record_id): link
        for link in Link.objects.filter(
            state=LinkState.OK,
            record_type__in={t for t, _ in parents},
            record_id__in={p.pk for _, p in parents},
        )
    }
    source_id = integration.source.pk
    workspaces = {p.workspace_id for _, p in parents} - {integration.workspace_id}
    group: dict[int, Integration] = {}
    for candidate in Integration.objects.filter(
        workspace_id__in=workspaces, state=IntegrationState.ENABLED
    ).select_related("template"):
        if candidate.source.pk == source_id:
            group.setdefault(candidate.workspace_id, candidate)

    def where_linked(parent) -> Integration | None:
        if parent.workspace_id == integration.workspace_id:
            return integration
        return group.get(parent.workspace_id)

    return (lambda where_id, t, pk: links.get((where_id, t, pk))), where_linked
