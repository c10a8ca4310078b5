"""What each wizard step changes; each runs in one transaction, so a failure saves nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aharally.conflictpolicy.models import Policy, set_policy
from aharally.integrations import hooks, rally_metadata
from aharally.integrations.defaults import (
    ALLOWED_RALLY_TYPES,
    DEFAULT_RECORD_MAPPINGS,
    RELATIONSHIP_LINKS,
    default_field_mappings,
    default_relationship_links,
)
from aharally.integrations.log import log_info
from aharally.integrations.models import (
    DISCUSSION_FIELDS,
    DISCUSSION_OFF,
    AuthMethod,
    Direction,
    FieldMapping,
    Integration,
    IntegrationState,
    RecordMapping,
    RelationshipLink,
    WizardStep,
)
from aharally.integrations.templates_service import (
    TemplateError,
    attach_template,
    effective_config,
    templates_available_to,
)
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction, RecordType

STEPS: list[str] = list(WizardStep.values)
# A derived integration takes these from its template; it only chooses its own project.
INHERITED_STEPS = {
    WizardStep.ACCOUNT,
    WizardStep.AUTHORIZE,
    WizardStep.WORKSPACE,
    WizardStep.MAPPINGS,
    WizardStep.STATUSES,
}


class WizardError(Exception):
    """A step's input cannot be saved; the message says why, for the owner."""


def step_index(step: str) -> int:
    return STEPS.index(step)


def reach(integration: Integration, step: str) -> None:
    """Remember the furthest step reached, so that the wizard resumes there."""
    if step_index(step) > step_index(integration.wizard_step):
        integration.wizard_step = step
        integration.save(update_fields=["wizard_step"])


def templates_for(user) -> Iterable[Integration]:
    """Integration templates the user may build on (those of workspaces the user owns)."""
    return templates_available_to(user)


@transaction.atomic
def create_draft(*, workspace, name: str, template: Integration | None, user) -> Integration:
    """Step 1. With a template, the draft starts with the template's Rally workspace and
    project (so it is fully configured when they fit) and goes on to choosing its project."""
    integration = Integration(
        workspace=workspace,
        name=name.strip(),
        created_by=user,
        wizard_step=WizardStep.ACCOUNT,
    )
    integration.save()
    if template is not None:
        try:
            attach_template(integration=integration, template=template, by=user)
        except TemplateError as error:
            raise WizardError(error.message) from None
        integration.rally_url = template.rally_url
        integration.wizard_step = (
            WizardStep.ENABLE if integration.rally_project_oid else WizardStep.PROJECT
        )
        integration.save(update_fields=["rally_url", "wizard_step"])
    log_info(integration, f"Integration “{integration.name}” created as a draft by {user.email}.")
    record_audit(
        workspace=workspace,
        actor=user,
        action=AuditAction.CONFIGURATION,
        target=f"Integration “{integration.name}”",
        detail="Created as a draft" + (f" on the template “{template.name}”" if template else ""),
    )
    return integration


def rename(*, integration: Integration, name: str) -> None:
    integration.name = name.strip()
    integration.save(update_fields=["name"])


@transaction.atomic
def set_account(*, integration: Integration, rally_url: str) -> None:
    """A new Rally URL; credentials and choices made for another Rally are dropped."""
    if integration.template_id:
        raise WizardError("This integration takes its account from its template.")
    if rally_url == integration.rally_url:
        reach(integration, WizardStep.AUTHORIZE)
        return
    if integration.account_locked:
        raise WizardError(
            "The Rally URL cannot change: this integration has already sent or linked records."
        )
    integration.rally_url = rally_url
    _forget_credentials(integration)
    # An owner's OAuth client is registered at one Rally: it is never sent to another.
    integration.oauth_client_id = ""
    integration.oauth_client_secret = ""
    _forget_scope(integration)
    integration.wizard_step = WizardStep.AUTHORIZE
    integration.save()


def _forget_credentials(integration: Integration) -> None:
    integration.access_token = ""
    integration.refresh_token = ""
    integration.token_expires_at = None
    integration.api_key = ""
    integration.authorized_by = None
    integration.authorized_at = None
    integration.rally_user_name = ""


def _forget_scope(integration: Integration) -> None:
    integration.rally_workspace_oid = None
    integration.rally_workspace_name = ""
    integration.rally_project_oid = None
    integration.rally_project_name = ""
    integration.record_mappings.all().delete()
    integration.relationship_links.all().delete()


@transaction.atomic
def set_oauth_client(*, integration: Integration, client_id: str, client_secret: str, user) -> None:
    """The OAuth client the owner registered at the integration's Rally (secret encrypted)."""
    if integration.template_id:
        raise WizardError("This integration uses its template's authorization.")
    integration.oauth_client_id = client_id.strip()
    integration.oauth_client_secret = client_secret.strip()
    integration.save(update_fields=["oauth_client_id", "oauth_client_secret"])
    log_info(
        integration,
        f"OAuth client {integration.oauth_client_id} for {integration.rally_url} set by "
        f"{user.email}.",
    )
    record_audit(
        workspace=integration.workspace,
        actor=user,
        action=AuditAction.AUTHORIZATION,
        target=f"Integration “{integration.name}”",
        detail=f"OAuth client {integration.oauth_client_id} set for {integration.rally_url}",
    )


@dataclass(frozen=True)
class Authorization:
    auth_method: str
    rally_user_name: str
    access_token: str = ""
    refresh_token: str = ""
    expires_at: object = None  # datetime | None
    api_key: str = ""


@transaction.atomic
def store_authorization(*, integration: Integration, authorization: Authorization, user) -> None:
    """Keep the new credential (encrypted) and who authorized, replacing the old one."""
    _forget_credentials(integration)
    integration.auth_method = authorization.auth_method
    if authorization.auth_method == AuthMethod.API_KEY:
        integration.api_key = authorization.api_key
    else:
        integration.access_token = authorization.access_token
        integration.refresh_token = authorization.refresh_token
        integration.token_expires_at = authorization.expires_at
    integration.authorized_by = user
    integration.authorized_at = timezone.now()
    integration.rally_user_name = authorization.rally_user_name
    integration.needs_reauthorization = False
    if step_index(integration.wizard_step) < step_index(WizardStep.WORKSPACE):
        integration.wizard_step = WizardStep.WORKSPACE
    integration.save()
    # Derived integrations use this credential too; none of them needs re-authorizing now.
    integration.derived_integrations.update(needs_reauthorization=False)
    # Whatever waited for a credential (the sync's outbox) may go on.
    transaction.on_commit(lambda: hooks.authorized(integration))
    how = "an API key" if authorization.auth_method == AuthMethod.API_KEY else "OAuth"
    log_info(
        integration,
        f"Authorized with Rally ({how}) as {authorization.rally_user_name} by {user.email}.",
    )
    record_audit(
        workspace=integration.workspace,
        actor=user,
        action=AuditAction.AUTHORIZATION,
        target=f"Integration “{integration.name}”",
        detail=f"Authorized at {integration.rally_url} ({how}) as {authorization.rally_user_name}",
    )


@transaction.atomic
def choose_workspace(*, integration: Integration, oid: int, name: str) -> None:
    if integration.template_id:
        raise WizardError("This integration uses its template's Rally workspace.")
    if integration.rally_workspace_oid != oid:
        # Mappings, states and the project belong to the old workspace.
        _forget_scope(integration)
        integration.rally_workspace_oid = oid
    integration.rally_workspace_name = name
    if step_index(integration.wizard_step) < step_index(WizardStep.PROJECT):
        integration.wizard_step = WizardStep.PROJECT
    integration.save()


def project_overlaps(integration: Integration, tree) -> dict[int, list[str]]:
    """For each project of the tree (depth, project pairs, depth-first), what other
    integrations of this workspace or template group already integrate it, a parent of it or
    a child of it, on the same Rally: the owner is told before choosing."""
    source = integration.source
    others = [
        other
        for other in Integration.objects.filter(rally_project_oid__isnull=False)
        .exclude(pk=integration.pk)
        .select_related("template", "workspace")
        if other.rally_site == integration.rally_site
        and (other.workspace_id == integration.workspace_id or other.source.pk == source.pk)
    ]
    if not others:
        return {}
    parent_of: dict[int, int | None] = {}
    path: list[int] = []
    for depth, project in tree:
        del path[depth:]
        parent_of[project.object_id] = path[-1] if path else None
        path.append(project.object_id)

    def ancestors(oid):
        while (oid := parent_of.get(oid)) is not None:
            yield oid

    notes: dict[int, list[str]] = {}
    for _, project in tree:
        oid = project.object_id
        for other in others:
            # A draft links nothing yet, but will once enabled: named, and said to be one.
            draft = ", a draft not enabled yet" if other.state == IntegrationState.DRAFT else ""
            where = f"“{other.name}” ({other.workspace.name}{draft})"
            if other.rally_project_oid == oid:
                notes.setdefault(oid, []).append(f"integrated by {where}")
            elif other.rally_project_oid in set(ancestors(oid)):
                notes.setdefault(oid, []).append(f"inside the project of {where}")
            elif oid in set(ancestors(other.rally_project_oid)):
                notes.setdefault(oid, []).append(f"holds the project of {where}")
    return notes


@transaction.atomic
def choose_project(
    *, integration: Integration, oid: int, name: str, exclude_child_updates: bool
) -> None:
    integration.rally_project_oid = oid
    integration.rally_project_name = name
    integration.exclude_child_updates = exclude_child_updates
    # A derived integration has nothing else to choose: its template configured the rest.
    next_step = WizardStep.ENABLE if integration.template_id else WizardStep.MAPPINGS
    if step_index(integration.wizard_step) < step_index(next_step):
        integration.wizard_step = next_step
    integration.save()


# -- mappings -------------------------------------------------------------------------------


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


def missing_configuration(integration: Integration) -> list[str]:
    """What keeps the integration from being enabled, in words for the owner.

    Status mappings are checked as this integration will use them: a template's mapping
    translated to this workspace's workflow.
    """
    from aharally.integrations.connection import has_credentials

    config = effective_config(integration)
    problems = []
    if not has_credentials(integration):
        problems.append("Authorize the integration with Rally.")
    if not config.rally_workspace_oid:
        problems.append("Choose a Rally workspace.")
    if not integration.rally_project_oid:
        problems.append("Choose a Rally project.")
    if not config.record_mappings:
        problems.append("Map at least one record type to Rally.")
    for mapping in config.record_mappings:
        if mapping.status_map is None:
            problems.append(f"{mapping.record_type_label}: map its statuses to Rally's states.")
            continue
        for problem in mapping.status_map.problems:
            problems.append(f"{mapping.record_type_label}: {problem}")
    return problems


@transaction.atomic
def set_modes(*, integration: Integration, outgoing_mode: str, incoming_mode: str) -> None:
    if integration.template_id:
        return  # the template's modes apply
    integration.outgoing_mode = outgoing_mode
    integration.incoming_mode = incoming_mode
    integration.save(update_fields=["outgoing_mode", "incoming_mode"])


@transaction.atomic
def enable(*, integration: Integration, user) -> None:
    problems = missing_configuration(integration)
    if problems:
        raise WizardError(" ".join(problems))
    integration.state = IntegrationState.ENABLED
    integration.enabled_at = timezone.now()
    integration.wizard_step = WizardStep.ENABLE
    integration.save(update_fields=["state", "enabled_at", "wizard_step"])
    rally_metadata.drop(integration)  # sends read Rally's types and states afresh
    transaction.on_commit(lambda: hooks.lifecycle("enabled", integration))
    source = integration.source
    log_info(
        integration,
        f"Enabled by {user.email}: {source.get_outgoing_mode_display()}, "
        f"{source.get_incoming_mode_display()}.",
    )
    record_audit(
        workspace=integration.workspace,
        actor=user,
        action=AuditAction.CONFIGURATION,
        target=f"Integration “{integration.name}”",
        detail=f"Enabled: {source.get_outgoing_mode_display()}, "
        f"{source.get_incoming_mode_display()}",
    )


@transaction.atomic
def finish(*, integration: Integration, outgoing_mode: str, incoming_mode: str, user) -> None:
    """The Enable step: keep the chosen modes and enable, or save neither."""
    set_modes(integration=integration, outgoing_mode=outgoing_mode, incoming_mode=incoming_mode)
    enable(integration=integration, user=user)
