"""The wizard's mapping step: which aharally record goes to which Rally type, the directions
of its fields (and of its comments and attachments), their conflict policies, and the
relationship links kept in step; each change in one transaction, so a failure saves nothing."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from aharally.conflictpolicy.models import Policy, set_policy
from aharally.integrations.defaults import (
    ALLOWED_RALLY_TYPES,
    DEFAULT_RECORD_MAPPINGS,
    RELATIONSHIP_LINKS,
    default_field_mappings,
    default_relationship_links,
)
from aharally.integrations.models import (
    DISCUSSION_FIELDS,
    DISCUSSION_OFF,
    Direction,
    FieldMapping,
    Integration,
    RecordMapping,
    RelationshipLink,
)
from aharally.integrations.wizard.services import WizardError
from aharally.workspaces.models import RecordType


def _check_rally_type(record_type: str, rally_type: str, available: dict[str, str]) -> None:
    if rally_type not in available:
        raise WizardError(f"Rally has no type “{rally_type}” in this workspace.")
    allowed = ALLOWED_RALLY_TYPES.get(record_type)
    label = RecordType(record_type).label
    if allowed is None:
        if not rally_type.lower().startswith("portfolioitem/"):
            raise WizardError(f"A {label.lower()} can only map to a portfolio item type.")
    elif rally_type not in allowed:
        raise WizardError(
            f"A {label.lower()} can only map to {', '.join(sorted(allowed))}, not {rally_type}."
        )


def _create_record_mapping(
    integration: Integration, record_type: str, rally_type: str, type_name: str, position: int
) -> RecordMapping:
    mapping = RecordMapping.objects.create(
        integration=integration,
        record_type=record_type,
        rally_type=rally_type,
        rally_type_name=type_name,
        position=position,
    )
    FieldMapping.objects.bulk_create(
        FieldMapping(
            record_mapping=mapping,
            field=default.field,
            rally_field=default.rally_field,
            direction=default.direction,
            position=index,
        )
        for index, default in enumerate(default_field_mappings(record_type, rally_type))
    )
    return mapping


@transaction.atomic
def ensure_default_mappings(*, integration: Integration, available: dict[str, str]) -> list[str]:
    """Create the default mappings once; returns the defaults Rally lacks (not created).

    `available` maps Rally TypePaths to their display names, from Rally's type definitions.
    """
    missing: list[str] = []
    if integration.record_mappings.exists() or integration.relationship_links.exists():
        return missing
    mapped: set[str] = set()
    for position, (record_type, rally_type, _label) in enumerate(DEFAULT_RECORD_MAPPINGS):
        if rally_type not in available:
            missing.append(rally_type)
            continue
        _create_record_mapping(
            integration, record_type, rally_type, available[rally_type], position
        )
        mapped.add(record_type)
    RelationshipLink.objects.bulk_create(
        RelationshipLink(integration=integration, parent_type=p, child_type=c)
        for p, c in default_relationship_links(mapped)
    )
    return missing


@transaction.atomic
def add_record_mapping(
    *, integration: Integration, record_type: str, rally_type: str, available: dict[str, str]
) -> RecordMapping:
    if record_type not in RecordType.values:
        raise WizardError("Choose an aharally record type.")
    _check_rally_type(record_type, rally_type, available)
    taken = integration.record_mappings.filter(
        Q(record_type=record_type) | Q(rally_type=rally_type)
    ).first()
    if taken is not None:
        raise WizardError(
            f"{taken.get_record_type_display()} is already mapped to {taken.rally_type}; "
            "remove that mapping first."
        )
    position = integration.record_mappings.count()
    return _create_record_mapping(
        integration, record_type, rally_type, available[rally_type], position
    )


@transaction.atomic
def remove_record_mapping(*, integration: Integration, mapping_id: int) -> list[str]:
    """Remove a mapping and the relationship links that needed it; returns those links."""
    mapping = integration.record_mappings.filter(pk=mapping_id).first()
    if mapping is None:
        raise WizardError("That mapping no longer exists.")
    links = integration.relationship_links.filter(
        Q(parent_type=mapping.record_type) | Q(child_type=mapping.record_type)
    )
    removed = [link_label(link.parent_type, link.child_type) for link in links]
    links.delete()
    mapping.delete()
    return removed


def link_label(parent: str, child: str) -> str:
    return f"{RecordType(parent).label} → {RecordType(child).label}"


@transaction.atomic
def save_field_directions(*, record_mapping: RecordMapping, directions: dict[str, str]) -> None:
    """`directions` maps a field mapping's field to a Direction, or "" to stop syncing it;
    "comments" and "attachments" to their line's direction (both ways, the default, is no
    line at all)."""
    for field in DISCUSSION_FIELDS:
        direction = directions.get(field)
        if direction is None or direction == "":
            continue
        if direction not in (*Direction.values, DISCUSSION_OFF) or direction == Direction.ONCE:
            raise WizardError(f"Unknown direction {direction!r}.")
        lines = FieldMapping.objects.filter(record_mapping=record_mapping, field=field)
        if direction == Direction.BOTH:
            lines.delete()
        elif not lines.update(direction=direction):
            FieldMapping.objects.create(
                record_mapping=record_mapping,
                field=field,
                rally_field="Discussion" if field == "comments" else "Attachments",
                direction=direction,
                position=1000,
            )
    for field_mapping in record_mapping.field_mappings.all():
        if field_mapping.field in DISCUSSION_FIELDS:
            continue
        direction = directions.get(field_mapping.field)
        if direction is None:
            continue
        if direction == "":
            if field_mapping.field in ("name", "status"):
                raise WizardError(f"{field_mapping.field.title()} is always synced.")
            field_mapping.delete()
        elif direction in Direction.values:
            if direction != field_mapping.direction:
                field_mapping.direction = direction
                field_mapping.save(update_fields=["direction"])
        else:
            raise WizardError(f"Unknown direction {direction!r}.")


@transaction.atomic
def save_conflict_policies(*, record_mapping: RecordMapping, policies: dict[str, str]) -> None:
    """`policies` maps a two-way field mapping's field to a conflict policy (conflictpolicy);
    a field that no longer goes both ways keeps none."""
    for field_mapping in record_mapping.field_mappings.all():
        if field_mapping.field in DISCUSSION_FIELDS:
            continue
        policy = policies.get(field_mapping.field)
        if field_mapping.direction != Direction.BOTH:
            policy = Policy.ASK
        if policy is None:
            continue
        if policy not in Policy.values:
            raise WizardError(f"Unknown conflict policy {policy!r}.")
        set_policy(field_mapping=field_mapping, policy=policy)


@transaction.atomic
def save_relationship_links(*, integration: Integration, links: list[tuple[str, str]]) -> None:
    mapped = set(integration.record_mappings.values_list("record_type", flat=True))
    for parent, child in links:
        if (parent, child) not in RELATIONSHIP_LINKS:
            raise WizardError("That relationship is not supported.")
        unmapped = [t for t in (parent, child) if t not in mapped]
        if unmapped:
            names = " and ".join(RecordType(t).label.lower() + "s" for t in unmapped)
            raise WizardError(f"{link_label(parent, child)} needs {names} mapped to Rally first.")
    integration.relationship_links.all().delete()
    RelationshipLink.objects.bulk_create(
        RelationshipLink(integration=integration, parent_type=p, child_type=c) for p, c in links
    )


# -- enable ---------------------------------------------------------------------------------
