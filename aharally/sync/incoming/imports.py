"""New Rally records under linked parents become aharally records (DESIGN rule 5).

What is imported, per the relationship links:
- a story whose feature (`PortfolioItem`) is linked becomes a requirement of that feature;
- a feature whose Release is linked becomes a feature in that release; one under a linked
  initiative (`Parent`) whose release is not linked, or when releases are not mapped, goes to
  the workspace's first parking-lot release;
- a story whose feature aharally does not have yet brings the feature in with it, when that
  feature itself qualifies (its release or initiative is linked): a requirement can't exist
  without its feature.
With *Approve new records* the record waits in Integration updates as an `ImportCandidate`
(approve or ignore); an ignored one is not offered again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aharally.integrations.models import IncomingMode, Integration, IntegrationState
from aharally.rally.objects import RallyObject
from aharally.rally.query import where as rally_where
from aharally.records.models import Feature, Release
from aharally.records.services import create_feature, create_requirement
from aharally.sync import custom_values, enqueue, history, links, listeners, mapping
from aharally.sync.agreement import rally_value, to_record_value
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    ImportCandidate,
    ImportState,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.people import people_map
from aharally.sync.records import SOURCE
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)

# What the catch-up also fetches of each type, to know where a new record belongs.
PARENT_FETCH = {
    RecordType.REQUIREMENT: ["Name", "PortfolioItem"],
    RecordType.FEATURE: ["Name", "Release", "Parent"],
}


@dataclass(frozen=True)
class ParentsHere:
    """Which of some Rally objects' parents aharally holds: Rally ObjectID → record id.

    Read for a whole page at once (`parents_here`), so that `placement` judges every object
    of the page without a query of its own.
    """

    releases: dict[int, int] = field(default_factory=dict)  # linked by this integration
    initiatives: dict[int, int] = field(default_factory=dict)  # by its template group
    features: dict[int, int] = field(default_factory=dict)  # linked by this integration
    features_elsewhere: frozenset[int] = frozenset()  # by another integration on this Rally


def _parent_oids(objects, attribute: str) -> set[int]:
    return {ref.object_id for obj in objects if (ref := obj.ref_of(attribute)) and ref.object_id}


def _records_linked(links_of: Q, record_type: str, oids: set[int]) -> dict[int, int]:
    """Rally ObjectID → record id of the OK links among `links_of` to these objects."""
    return dict(
        Link.objects.filter(
            links_of, record_type=record_type, rally_oid__in=oids, state=LinkState.OK
        ).values_list("rally_oid", "record_id")
    )


def parents_here(integration: Integration, config, record_type: str, objects) -> ParentsHere:
    """The parents of these objects that aharally holds, in at most two queries."""
    relations = config.relationship_links
    if record_type == RecordType.FEATURE:
        releases = _parent_oids(objects, "Release")
        initiatives = _parent_oids(objects, "Parent")
        source_id = integration.source.pk
        return ParentsHere(
            releases=_records_linked(Q(integration=integration), RecordType.RELEASE, releases)
            if releases and (RecordType.RELEASE, record_type) in relations
            else {},
            # By the template group's ids, not its integrations: loading one decrypts its
            # secrets.
            initiatives=_records_linked(
                Q(integration_id=source_id) | Q(integration__template_id=source_id),
                RecordType.INITIATIVE,
                initiatives,
            )
            if initiatives and (RecordType.INITIATIVE, record_type) in relations
            else {},
        )
    if record_type == RecordType.REQUIREMENT and (RecordType.FEATURE, record_type) in relations:
        features = _parent_oids(objects, "PortfolioItem")
        if not features:
            return ParentsHere()
        ours = _records_linked(Q(integration=integration), RecordType.FEATURE, features)
        elsewhere = (
            Link.objects.filter(
                rally_site=links.site_of(integration),
                rally_oid__in=features - set(ours),
                state=LinkState.OK,
            ).values_list("rally_oid", flat=True)
            if features - set(ours)
            else ()
        )
        return ParentsHere(features=ours, features_elsewhere=frozenset(elsewhere))
    return ParentsHere()


def placement(
    integration: Integration, config, record_type: str, obj, *, parents: ParentsHere | None = None
) -> dict | None:
    """Where a new Rally object would go in aharally, or None when it is not ours to import.

    `parents`: what `parents_here` read for the object's page (read for this object alone
    when not given).
    """
    if parents is None:
        parents = parents_here(integration, config, record_type, [obj])
    relations = config.relationship_links
    if record_type == RecordType.REQUIREMENT and (RecordType.FEATURE, record_type) in relations:
        parent = obj.ref_of("PortfolioItem")
        if parent is None or parent.object_id is None:
            return None
        if parent.object_id in parents.features:
            return {"feature_id": parents.features[parent.object_id]}
        if parent.object_id in parents.features_elsewhere:
            return None  # its feature syncs through another integration: the story is theirs
        return {"feature_oid": parent.object_id}  # the feature comes too, if it qualifies
    if record_type == RecordType.FEATURE:
        release, parent = obj.ref_of("Release"), obj.ref_of("Parent")
        release_id = parents.releases.get(release.object_id) if release is not None else None
        initiative_id = parents.initiatives.get(parent.object_id) if parent is not None else None
        if release_id is None and initiative_id is None:
            return None
        return {"release_id": release_id, "initiative_id": initiative_id}
    return None


def screen(integration, config, record_type: str, objects: list) -> list:
    """Of a page's unlinked objects, those that may be ours to import: two queries a page.

    Most unlinked objects of a busy Rally project are under no parent of ours; asking
    `placement` for each alone cost four or five queries an object at every catch-up. A
    create of ours waiting for its lost answer by a left-out object's name is still made due
    now (what `not_importable` does for the objects that get that far).
    """
    parents = parents_here(integration, config, record_type, objects)
    keep = [
        obj
        for obj in objects
        if placement(integration, config, record_type, obj, parents=parents) is not None
    ]
    kept = {id(obj) for obj in keep}
    left_out = [obj for obj in objects if id(obj) not in kept]
    if left_out:
        _hurry_creates(integration, record_type, {obj.name for obj in left_out})
    return keep


def _linked(integration, record_type: str, rally_oid: int) -> Link | None:
    return Link.objects.filter(
        integration=integration, record_type=record_type, rally_oid=rally_oid, state=LinkState.OK
    ).first()


def linked_anywhere(integration, record_type: str, rally_oid: int) -> Link | None:
    """A parent linked by this integration or one on the same template (an initiative)."""
    source_id = integration.source.pk
    for link in Link.objects.filter(
        record_type=record_type, rally_oid=rally_oid, state=LinkState.OK
    ).select_related("integration__template"):
        if link.integration.source.pk == source_id:
            return link
    return None


def unknown_features(integration, config, objects, *, client) -> dict[int, RallyObject]:
    """The Rally features of stories whose feature aharally lacks, read in one query a
    hundred (never a request per story)."""

    feature_mapping = config.mapping_for(RecordType.FEATURE)
    if feature_mapping is None:
        return {}
    wanted = set()
    for obj in objects:
        parent = obj.ref_of("PortfolioItem")
        if parent is not None and parent.object_id is not None:
            wanted.add(parent.object_id)
    missing = sorted(wanted - links.linked_oids(integration, wanted))
    found: dict[int, RallyObject] = {}
    for start in range(0, len(missing), 100):
        chunk = missing[start : start + 100]
        for feature in client.query(
            feature_mapping.rally_type,
            query=rally_where("ObjectID", "in", chunk),
            fetch=fetch_for(feature_mapping),
        ):
            found[feature.object_id] = feature
    return found


def consider(
    integration, config, record_mapping, obj: RallyObject, *, parents: dict | None = None
) -> str:
    """A Rally object the catch-up found with no link: import it, queue it, or leave it."""
    record_type = record_mapping.record_type
    refused = not_importable(integration, record_type, obj.object_id, obj.name)
    if refused:
        return refused
    where = placement(integration, config, record_type, obj)
    if where is None:
        return "not ours"
    if where.get("initiative_id") and not where.get("release_id"):
        owner = _first_in_group_on(integration, obj)
        if owner is not None and owner != integration.pk:
            return "not ours"  # another integration of the group on this project imports it
    if "feature_oid" in where:
        # A story under a feature aharally lacks: the feature first, if it qualifies.
        feature_mapping = config.mapping_for(RecordType.FEATURE)
        if feature_mapping is None:
            return "not ours"
        feature = (parents or {}).get(where["feature_oid"])
        if feature is None:
            return "its feature is not in aharally"
        outcome = consider(integration, config, feature_mapping, feature)
        link = _linked(integration, RecordType.FEATURE, where["feature_oid"])
        if link is None:
            return outcome  # the feature waits for approval, or is not ours
        where = {"feature_id": link.record_id}
    if integration.source.incoming_mode == IncomingMode.APPROVE:
        return _candidate(integration, record_mapping, obj)
    return import_object(integration, config, record_mapping, obj.fields, where=where)


def _first_in_group_on(integration, obj) -> int | None:
    """Which integration of the template group imports a feature placed by its initiative
    alone, when several integrate its project: the oldest, so it is always the same one
    (the initiative's link is shared by the group; its release would decide otherwise)."""
    project = obj.ref_of("Project")
    if project is None or project.object_id is None:
        return None
    source_id = integration.source.pk
    candidates = Integration.objects.filter(
        Q(pk=source_id) | Q(template_id=source_id),
        state=IntegrationState.ENABLED,
        rally_project_oid=project.object_id,
    ).values_list("pk", flat=True)
    return min(candidates, default=None)


def not_importable(integration, record_type: str, rally_oid, name) -> str | None:
    """Why a Rally object must not become a new record, or None (every import path asks).

    - Linked already, by any integration on this Rally: one Rally object, one record.
    - Ignored: a reviewer chose not to import it, or a person unlinked its record from it
      (both records stay; the Rally one does not come back as a copy).
    - Made, or maybe made, by aharally: a create of this type whose answer is not in yet
      (in flight, or lost and waiting to look before sending again) by the same name. That
      row adopts it (its look-before-send finds it); importing it would make the record
      twice. The row is made due now, so the adoption takes seconds.
    """
    if rally_oid is None:
        return "not ours"
    if rally_oid in links.linked_oids(integration, [rally_oid]):
        return "already linked"
    on_this_rally = links.integrations_on_site(links.site_of(integration))
    if ImportCandidate.objects.filter(
        integration_id__in=on_this_rally, rally_oid=rally_oid, state=ImportState.IGNORED
    ).exists():
        # By any integration on this Rally: a record unlinked in Platform is still Platform's
        # record of that object, and Company importing it would make a copy.
        return "ignored (a reviewer ignored it, or its record was unlinked: link that again)"
    if _hurry_creates(integration, record_type, {name}, on_this_rally=on_this_rally):
        return "being created by aharally"
    return None


def _hurry_creates(integration, record_type: str, names, *, on_this_rally=None) -> bool:
    """Whether a create of ours by one of these names may have made the object (in flight,
    or its answer lost); the waiting ones are made due now, so the adoption takes seconds."""
    if on_this_rally is None:
        on_this_rally = links.integrations_on_site(links.site_of(integration))
    creating = list(
        OutboxItem.objects.filter(
            integration_id__in=on_this_rally,
            record_type=record_type,
            kind=OutboxKind.CREATE,
            look_before_send=True,
            state__in=[OutboxState.IN_FLIGHT, *OPEN_STATES],
            sent_values__name__in=[name for name in names if name is not None],
        ).only("pk", "state", "integration_id")
    )
    waiting = [row.pk for row in creating if row.state != OutboxState.IN_FLIGHT]
    if waiting:
        OutboxItem.objects.filter(pk__in=waiting, state=OutboxState.QUEUED).update(not_before=None)
        for integration_id in {row.integration_id for row in creating}:
            enqueue.drain_on_commit(integration_id)
    return bool(creating)


def _custom_pairs(record_mapping) -> list[tuple[str, str]]:
    """The (custom field, Rally field) pairs whose Rally values come back."""
    return [
        (m.field, m.rally_field)
        for m in record_mapping.field_mappings
        if custom_values.is_custom(m.field) and m.direction in mapping.SENT_TO_AHARALLY
    ]


def fetch_for(record_mapping) -> list[str]:
    """What to fetch of a Rally object to import it: its incoming fields and its parents."""
    pairs = mapping.fields_to_receive(record_mapping.field_mappings) + _custom_pairs(record_mapping)
    owner = [mapping.OWNER_FETCH] if any(f == "assignee" for f, _ in pairs) else []
    if any(custom_values.is_custom(f) for f, _ in pairs):
        owner = [mapping.OWNER_FETCH]  # a member custom field's user is matched by e-mail
    return list(
        dict.fromkeys(
            [
                "ObjectID",
                "FormattedID",
                *[r for _, r in pairs],
                *owner,
                *PARENT_FETCH.get(record_mapping.record_type, ["Name"]),
            ]
        )
    )


def _candidate(integration, record_mapping, obj: RallyObject) -> str:
    try:
        with transaction.atomic():
            ImportCandidate.objects.create(
                integration=integration,
                record_type=record_mapping.record_type,
                rally_type=record_mapping.rally_type,
                rally_oid=obj.object_id,
                formatted_id=obj.formatted_id or "",
                name=(obj.name or "")[:255] or "(no name)",
                snapshot=dict(obj.fields),
            )
    except IntegrityError:
        return "already offered"
    return "waiting for approval"


# What import_object answers when it imported; anything else says why it did not.
IMPORTED = "imported"


@transaction.atomic
def import_object(
    integration, config, record_mapping, fields: dict[str, Any], *, where, user=None, people=None
) -> str:
    """Create the aharally record and its link from Rally's fields; IMPORTED, or why not.

    `people` is the group's map (`sync.people`), when the caller has it already."""
    obj = RallyObject.from_json(fields)
    refused = not_importable(integration, record_mapping.record_type, obj.object_id, obj.name)
    if refused:
        return refused
    if where is None:
        where = placement(integration, config, record_mapping.record_type, obj)
        if where is None or "feature_oid" in where:
            return "its parent is not in aharally"
    pairs = mapping.fields_to_receive(record_mapping.field_mappings)
    status_map = record_mapping.status_map
    if people is None and any(name == "assignee" for name, _ in pairs):
        people = people_map(integration)
    values: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    for field_name, rally_field in pairs:
        if rally_field not in fields:
            continue
        incoming = rally_value(field_name, fields[rally_field], people)
        if incoming is mapping.UNKNOWN:
            continue
        value = to_record_value(
            field_name, incoming, status_map, workspace=integration.workspace, people=people
        )
        if value is mapping.UNKNOWN:
            continue
        values[field_name] = value
        baseline[field_name] = incoming
    # Mapped custom fields (no query when none): a value that can't be taken is left out.
    wanted = dict(_custom_pairs(record_mapping))
    specs = custom_values.specs_for(
        [m for m in record_mapping.field_mappings if m.field in wanted],
        integration.workspace_id,
        record_type=record_mapping.record_type,
    )
    left_out = []  # Rally values no choice maps to: the new record's history says so
    for field_name, rally_field in _custom_pairs(record_mapping):
        if field_name not in specs or rally_field not in fields:
            continue
        spec = specs[field_name]
        incoming = custom_values.from_rally(spec, fields[rally_field], people)
        if incoming is mapping.UNKNOWN:
            continue
        value = custom_values.to_record(
            spec, incoming, workspace_id=integration.workspace_id, people=people
        )
        if value is custom_values.UNMAPPED:
            left_out.append(custom_values.not_applied(spec, rally_field, incoming))
        if value is mapping.UNKNOWN or value is custom_values.UNMAPPED:
            continue
        values[field_name] = value
        baseline[field_name] = incoming
    name = str(values.pop("name", None) or obj.name or obj.formatted_id or "Imported from Rally")
    values = {k: v for k, v in values.items() if k != "release_date"}
    workspace = integration.workspace
    if record_mapping.record_type == RecordType.REQUIREMENT:
        feature = Feature.objects.get(pk=where["feature_id"])
        record = create_requirement(feature=feature, name=name[:255], source=SOURCE, **values)
    else:
        release = (
            Release.objects.get(pk=where["release_id"])
            if where.get("release_id")
            else Release.objects.filter(workspace=workspace, is_parking_lot=True).first()
        )
        record = create_feature(
            workspace=workspace,
            name=name[:255],
            release=release,
            initiative_id=where.get("initiative_id"),
            source=SOURCE,
            **values,
        )
    try:
        link = links.create_link(
            integration=integration,
            record_type=record_mapping.record_type,
            record_id=record.pk,
            rally_type=record_mapping.rally_type,
            rally_oid=obj.object_id,
            formatted_id=obj.formatted_id or "",
            baseline=baseline,
        )
    except links.AlreadyLinked:
        # Another catch-up (a second integration on this Rally) linked it first: the record
        # made above goes with this transaction.
        transaction.set_rollback(True)
        return "already linked"
    history.note(
        link,
        ActivityAction.IMPORTED,
        f"Imported from {link.label}",
        user,  # who chose to import it (the record itself is made by Rally)
    )
    history.note_all(((link, said) for said in left_out), ActivityAction.NOT_APPLIED)
    listeners.imported_from_rally(integration.pk, record)
    ImportCandidate.objects.filter(integration=integration, rally_oid=obj.object_id).update(
        state=ImportState.IMPORTED, decided_at=timezone.now()
    )
    return IMPORTED
