"""What each wizard step changes; each runs in one transaction, so a failure saves nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aharally.integrations import hooks, rally_metadata
from aharally.integrations.log import log_info
from aharally.integrations.models import (
    AuthMethod,
    Integration,
    IntegrationState,
    WizardStep,
)
from aharally.integrations.templates_service import (
    TemplateError,
    attach_template,
    effective_config,
    templates_available_to,
)
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction

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
