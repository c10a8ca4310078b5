"""Disable, enable, delete and check an integration (More options on its settings page)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from aharally.integrations import hooks
from aharally.integrations.connection import RallyProblem, has_credentials, rally_session
from aharally.integrations.log import audit_integration, log_event, record_failure, record_success
from aharally.integrations.models import Integration, IntegrationState, LogLevel
from aharally.integrations.shared_fields import release_copies
from aharally.integrations.templates_service import effective_config
from aharally.workspaces.models import AuditAction


class LifecycleError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _who(by) -> str:
    return f" by {by.email}" if by is not None and getattr(by, "email", "") else ""


def disable_integration(*, integration: Integration, by=None) -> Integration:
    """Stop sending and receiving; the configuration and links stay."""
    if integration.state != IntegrationState.ENABLED:
        raise LifecycleError("Only an enabled integration can be disabled.")
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(state=IntegrationState.DISABLED)
        integration.state = IntegrationState.DISABLED
        transaction.on_commit(lambda: hooks.lifecycle("disabled", integration))
        log_event(
            integration,
            LogLevel.WARNING,
            f"Integration disabled{_who(by)}.",
            "Nothing is sent to or received from Rally until it is enabled again; changes "
            "made meanwhile are picked up then.",
        )
        audit_integration(integration, by=by, what="Disabled", action=AuditAction.CONFIGURATION)
    return integration


def enable_integration(*, integration: Integration, by=None) -> Integration:
    """Enable again an integration that was disabled (a draft is enabled by the wizard)."""
    if integration.state == IntegrationState.DRAFT:
        raise LifecycleError("Finish the wizard to enable this integration.")
    if integration.state == IntegrationState.ENABLED:
        raise LifecycleError("This integration is already enabled.")
    with transaction.atomic():
        now = timezone.now()
        Integration.objects.filter(pk=integration.pk).update(
            state=IntegrationState.ENABLED, enabled_at=now
        )
        integration.state, integration.enabled_at = IntegrationState.ENABLED, now
        transaction.on_commit(lambda: hooks.lifecycle("enabled", integration))
        log_event(integration, LogLevel.INFO, f"Integration enabled{_who(by)}.")
        audit_integration(
            integration, by=by, what="Enabled again", action=AuditAction.CONFIGURATION
        )
    return integration


def delete_integration(*, integration: Integration, by=None) -> None:
    """Delete the integration and its configuration; records stay in aharally and Rally."""
    users = list(integration.derived_integrations.values_list("name", flat=True)[:5])
    if users:
        raise LifecycleError(
            "Other integrations are built on this template ("
            + ", ".join(users)
            + "): delete them first, or build them differently."
        )
    try:
        with transaction.atomic():
            audit_integration(integration, by=by, what="Deleted", action=AuditAction.CONFIGURATION)
            workspace_id = integration.workspace_id
            integration.delete()
            # Custom fields its template shared are now the workspace's own to change.
            release_copies(workspace_id)
    except ProtectedError:
        raise LifecycleError(
            "This integration is still referenced elsewhere and can't be deleted yet."
        ) from None


def check_connection(*, integration: Integration) -> str:
    """Ask Rally who the credential is and read the integration's project, through the
    integration's own client (credential and client certificate included).

    Returns what worked, or raises LifecycleError saying what failed (no secret, no traceback).
    """
    if not has_credentials(integration):
        raise LifecycleError(
            "The integration is not authorized with Rally yet: authorize it first"
            + (" (on its template)." if integration.template_id else ".")
        )
    config = effective_config(integration)
    workspace_oid, project_oid = config.rally_workspace_oid, config.rally_project_oid
    try:
        with rally_session(integration, doing="check the connection to Rally") as client:
            user = client.current_user(fetch=["UserName", "DisplayName"])
            workspace = (
                client.read(f"/workspace/{workspace_oid}", fetch=["Name"])
                if workspace_oid
                else None
            )
            project = (
                client.read(f"/project/{project_oid}", fetch=["Name"]) if project_oid else None
            )
    except RallyProblem as problem:
        if problem.kind == "auth":
            # connection.py has already logged it and marked the integration for
            # re-authorization; one failure, one log line.
            raise LifecycleError(problem.message) from None
        record_failure(
            integration,
            problem.message,
            "Check the Rally URL, the authorization and, if Rally demands one, the client "
            "certificate (More options → Set client certificate).",
        )
        raise LifecycleError(problem.message) from None
    record_success(integration)
    message = f"Connected to Rally as {user.get('DisplayName') or user.get('UserName')}"
    reached = [f"the workspace “{workspace.name}”"] if workspace is not None else []
    if project is not None:
        reached.append(f"the project “{project.name}”")
    if reached:
        message += "; " + " and ".join(reached) + (" are" if len(reached) > 1 else " is")
        message += " reachable"
    log_event(integration, LogLevel.INFO, message + ".")
    return message + "."
