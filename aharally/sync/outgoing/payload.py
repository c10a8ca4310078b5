"""What a create or update sends (field mappings, states, people, tags, parents), what Rally
requires of it, and how a create whose answer was lost is recognised in Rally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from aharally.integrations.defaults import FIELD_LABELS
from aharally.integrations.templates_service import EffectiveRecordMapping
from aharally.rally.errors import RallyNotFound
from aharally.rally.objects import RallyRef
from aharally.rally.query import all_of, where
from aharally.sync import custom_values, history, links, mapping
from aharally.sync.models import ActivityAction, OutboxItem
from aharally.sync.outgoing.run import DrainRun
from aharally.sync.people import say_unmatched_once
from aharally.workspaces.models import CustomFieldKind

# Attributes Rally fills itself on a create, so they never count as a missing required field.
AUTOMATIC = {"Workspace", "Project", "ObjectID", "FormattedID", "CreationDate", "Subscription"}

# -- the payload --------------------------------------------------------------------------------


def build_payload(
    record,
    record_mapping: EffectiveRecordMapping,
    run: DrainRun,
    *,
    config,
    creating: bool,
    parents: dict[str, RallyRef] | None = None,
    only: set[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(normalised values, Rally fields) for the record's mapped fields."""
    pairs = mapping.fields_to_send(record_mapping.field_mappings, creating=creating)
    if only is not None:
        pairs = [(f, r) for f, r in pairs if f in only]
    specs = run.custom_specs(record_mapping, record.workspace_id)
    # A custom field gone from the workspace (or not copied there yet) has nothing to send.
    pairs = [(f, r) for f, r in pairs if not custom_values.is_custom(f) or f in specs]
    status_map = record_mapping.status_map
    values = mapping.record_values(
        record,
        fields=[f for f, _ in pairs if not custom_values.is_custom(f)],
        state_for=(status_map.state_for if status_map else lambda status: None),
    )
    for field_name, _ in pairs:
        if custom_values.is_custom(field_name):
            values[field_name] = custom_values.record_value(record, specs[field_name], specs)
    attributes = run.lookups.attributes(record_mapping.rally_type)
    payload: dict[str, Any] = {}
    for field_name, rally_field in pairs:
        if field_name == "rank":
            continue  # a query parameter beside the write (outgoing/ranking.py), not a field
        attribute = attributes.get(rally_field)
        if field_name in specs and attribute is not None and not attribute.read_only:
            converted = _custom_to_rally(
                record,
                specs,
                field_name,
                values,
                attribute,
                run,
                creating=creating,
                rally_type=record_mapping.rally_type,
            )
            if converted is _SKIP:
                values.pop(field_name, None)
            else:
                payload[rally_field] = converted
            continue
        if attribute is None or attribute.read_only:
            run.warn_once(
                f"attr:{record_mapping.rally_type}:{rally_field}",
                f"Rally's {record_mapping.rally_type_name} has no writable field "
                f"{rally_field}: {mapping_label(field_name)} is not sent.",
                "Map the field to another Rally field in the integration's field mappings.",
            )
            values.pop(field_name, None)
            continue
        value = values[field_name]
        converted = _to_rally(field_name, value, attribute, record_mapping, run)
        if converted is _SKIP:
            values.pop(field_name, None)
            continue
        payload[rally_field] = converted
    if creating and config.rally_project_oid:
        payload["Project"] = RallyRef(ref=f"/project/{config.rally_project_oid}")
    for attribute, ref in (parents or {}).items():
        payload[attribute] = ref
    return values, payload


_SKIP = object()


def mapping_label(field_name: str) -> str:

    return FIELD_LABELS.get(field_name, field_name)


def _to_rally(field_name, value, attribute, record_mapping, run: DrainRun):
    if field_name == "status":
        if value is None:
            return _SKIP
        if attribute.attribute_type == "OBJECT":  # a portfolio item's State object
            ref = run.lookups.state_ref(record_mapping.rally_type, value)
            if ref is None:
                run.warn_once(
                    f"state:{record_mapping.rally_type}:{value}",
                    f"Rally's {record_mapping.rally_type_name} has no state “{value}”; the "
                    "status is not sent.",
                    "Refresh the status mapping from Rally in the integration's settings.",
                )
                return _SKIP
            return ref
        return value
    if field_name == "assignee":
        return _owner(value, run)
    if field_name == "tags":
        return run.lookups.tag_refs(value or [])
    if attribute.attribute_type == "OBJECT":
        run.warn_once(
            f"object:{record_mapping.rally_type}:{attribute.element_name}",
            f"Rally's {record_mapping.rally_type_name}.{attribute.element_name} takes a Rally "
            f"object, not a value: {mapping_label(field_name)} is not sent.",
            "Map the field to a Rally field that takes a number or text.",
        )
        return _SKIP
    return mapping.rally_scalar(field_name, value)


def _custom_to_rally(
    record, specs, field_name, values, attribute, run: DrainRun, *, creating, rally_type
):
    """A custom field's value as Rally takes it, or _SKIP with the reason in the record's
    integration history (a choice the value map leaves out, a number Rally can't hold)."""
    spec = specs[field_name]
    value = values[field_name]
    if creating and value is None and not custom_values.unmapped_choices(record, spec, specs):
        return _SKIP  # nothing to say yet: Rally's default stays (a drop-down refuses "")
    unmapped = custom_values.unmapped_choices(record, spec, specs)
    if unmapped and (value is None or spec.field.kind == CustomFieldKind.CHOICES):
        # Never sent as empty: that would clear Rally's value for a choice we can't say.
        _say_not_sent(
            record,
            run,
            field_name,
            custom_values.not_sent(spec, unmapped),
            action=ActivityAction.NOT_SENT,
        )
        return _SKIP
    if spec.field.kind == CustomFieldKind.MEMBER:
        return _owner(value, run)
    if spec.field.kind == CustomFieldKind.CHOICES:
        attribute = run.lookups.with_values(rally_type, attribute)
    try:
        return custom_values.to_rally(spec, value, attribute)
    except custom_values.NotSendable as reason:
        _say_not_sent(record, run, field_name, str(reason))
        return _SKIP


@dataclass(frozen=True)
class _About:
    """The record a history line is about (`sync.history`'s subject)."""

    integration_id: int
    record_type: str
    record_id: int


def _say_not_sent(
    record, run: DrainRun, field_name: str, message: str, *, action=ActivityAction.SKIPPED
) -> None:
    """Once a run per record and field: the record's history says why a value stayed home."""
    if not run.first_time(f"notsent:{record.record_type}:{record.pk}:{field_name}"):
        return
    about = _About(run.integration.pk, record.record_type, record.pk)
    history.note(about, action, message)


def _owner(email, run: DrainRun):
    """The Rally user an assignee goes as (People), or _SKIP: with no Rally user the Owner is
    not sent — a create goes without one, an update leaves Rally's as it is, never cleared."""
    if not email:
        return None
    people = run.people()
    # Before Rally's users are read, a member is matched by e-mail address as they go.
    ref = people.rally_user(email) if people.read else run.lookups.user_ref(email)
    if ref is None:
        if run.first_time(f"user:{email.lower()}"):
            say_unmatched_once(run.integration, email)
        return _SKIP
    return ref


def payload_for_create(
    record, record_mapping, run: DrainRun, *, config, parents: dict[str, RallyRef]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(values, Rally fields, what Rally would refuse) of a create: the pre-check the push
    makes before anything goes to Rally, and the preview of a bulk send makes the same way."""
    values, payload = build_payload(
        record, record_mapping, run, config=config, creating=True, parents=parents
    )
    return values, payload, missing_required(record, record_mapping, run, payload)


def differing_fields(values: dict, *, link, record, record_mapping) -> set[str]:
    """What an update of a linked record sends: the fields whose value differs from the
    link's baseline (not one a reviewer rejected at this value, nor a status Rally's state
    already means)."""
    return {
        name
        for name in mapping.changed_fields(values, link.baseline)
        if link.rejected.get(name, _NO_VALUE) != values[name]
        and not _same_status(name, link.baseline, record, record_mapping)
    }


_NO_VALUE = object()


def _same_status(name, baseline, record, record_mapping) -> bool:
    """Rally's state still means the record's status (Measuring and Developing both map to
    In development): nothing to send, or the two would ping-pong."""
    if name != "status" or record_mapping.status_map is None or not baseline.get("status"):
        return False
    status = record_mapping.status_map.status_for(baseline["status"])
    return status is not None and status.pk == record.status_id


def missing_required(record, record_mapping, run: DrainRun, payload: dict) -> str:
    """A message naming the first required Rally field the record leaves empty, or ""."""
    found = first_missing(record_mapping, run, payload)
    if found is None:
        return ""
    attribute, field_name = found
    rally_name = f"{record_mapping.rally_type_name}.{attribute}"
    if field_name:
        spec = run.custom_specs(record_mapping, record.workspace_id).get(field_name)
        label = spec.label if spec is not None else mapping_label(field_name)
        return (
            f"Rally requires {rally_name}, and {record.reference}'s {label} is empty: fill it "
            f"in. To make sure new records have it, set the Required flag on {label} in "
            "Settings → Custom layouts."
        )
    return (
        f"Rally requires {rally_name}, and no field of aharally maps to it: map one in the "
        "integration's field mappings, and set its Required flag in Settings → Custom layouts."
    )


def first_missing(record_mapping, run: DrainRun, payload: dict) -> tuple[str, str] | None:
    """(Rally's name of the first required attribute the payload leaves empty, the aharally
    field mapped to it or ""), or None when Rally would take the payload."""
    attributes = run.lookups.attributes(record_mapping.rally_type)
    mapped = {m.rally_field: m.field for m in record_mapping.field_mappings}
    for attribute in attributes.values():
        if not attribute.required or attribute.read_only or attribute.element_name in AUTOMATIC:
            continue
        if payload.get(attribute.element_name) not in (None, "", []):
            continue
        return attribute.name or attribute.element_name, mapped.get(attribute.element_name, "")
    return None


# -- lost answers -------------------------------------------------------------------------------


def find_lost_create(row: OutboxItem, run: DrainRun, *, record_mapping, integration):
    """The object a create whose answer was lost made, if Rally has it.

    The marker needs no custom field: the same Name, in the integration's project, created
    since just before the first attempt, with the same parents and description as were sent,
    and not linked to anything yet.
    """
    sent = row.sent_values or {}
    name = sent.get("name")
    since = (row.first_attempt_at or timezone.now()) - links.SENT_CLOCK_SKEW
    if not name:
        return None
    parents = sent.get("_parents", {})
    fetch = ["ObjectID", "FormattedID", "Name", "Description", "CreationDate", *parents]
    config = run.config_for(integration)
    candidates = list(
        run.client.query(
            record_mapping.rally_type,
            query=all_of(
                where("Name", "=", name),
                where("CreationDate", ">=", since.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            ),
            fetch=fetch,
            **mapping.project_scope(config),
            order="ObjectID",
        )
    )
    # Linked by any integration on this Rally: another record's object, never this one's.
    linked = links.linked_oids(integration, [candidate.object_id for candidate in candidates])
    description = sent.get("description")
    orphan = None
    for candidate in candidates:
        if candidate.object_id in linked:
            continue
        if description is not None and mapping.normalise_html(
            candidate.get("Description")
        ) != mapping.normalise_html(description):
            continue
        held = {attr: _path_of(candidate, attr) for attr in parents}
        if held == parents:
            return candidate
        if orphan is None and all(held[attr] in (path, None) for attr, path in parents.items()):
            orphan = candidate
    # Rally empties a parent it deletes: the object made under it is ours all the same, once
    # Rally says that parent is gone (not merely that a person took the object out of it).
    if orphan is not None and _parents_gone(run, parents, orphan):
        return orphan
    return None


def lost_parent(found, parents: dict) -> bool:
    """Whether an adopted object no longer has a parent the lost attempt gave it."""
    return any(_path_of(found, attr) != path for attr, path in parents.items())


def _path_of(candidate, attr: str) -> str | None:
    held = candidate.ref_of(attr)
    return held.path if held else None


def _parents_gone(run: DrainRun, parents: dict, candidate) -> bool:
    for attr, path in parents.items():
        if path is None or _path_of(candidate, attr) is not None:
            continue
        try:
            run.client.read(path, fetch=["ObjectID"])
        except RallyNotFound:
            continue
        return False
    return True
