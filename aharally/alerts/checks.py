"""The conditions alerts watch, each evaluated from what the sync already stores."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.alerts import services
from aharally.alerts.models import AlertKind, UndeliveredChange
from aharally.integrations.models import Integration, IntegrationState
from aharally.sync.models import (
    Conflict,
    ConflictState,
    ErrorKind,
    ImportCandidate,
    ImportState,
    IncomingEvent,
    OutboxItem,
    OutboxState,
    WebhookRegistration,
    WebhookState,
)

# Undelivered changes kept an integration: enough to tell, not a copy of a silent day's changes.
KEEP_UNDELIVERED = 100


def now() -> datetime:
    """The alerts' clock (a test moves it past a threshold rather than waiting for it)."""
    return timezone.now()


def subject_of(integration) -> str:
    return f"integration:{integration.pk}"


def settings_url(integration) -> str:
    return reverse(
        "integrations:settings",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


def log_url(integration) -> str:
    return reverse(
        "integrations:log",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


def evaluate_integration(integration: Integration) -> list[str]:
    """Each integration condition, said or ended; the kinds said now."""
    said = []
    for kind, alert in (
        (AlertKind.NEEDS_REAUTHORIZATION, reauthorization_alert(integration)),
        (AlertKind.FAILURES, failures_alert(integration)),
        (AlertKind.WEBHOOKS_SILENT, webhooks_alert(integration)),
    ):
        if alert is None:
            services.release(kind, subject_of(integration))
        elif services.hold(alert, recipients=services.owners_of(integration.workspace)):
            said.append(kind)
    return said


def reauthorization_alert(integration: Integration) -> services.Alert | None:
    if integration.state != IntegrationState.ENABLED:
        return None
    source = integration.source
    if not (integration.needs_reauthorization or source.needs_reauthorization):
        return None
    where = "its template “" + source.name + "”" if source.pk != integration.pk else "it"
    return services.Alert(
        kind=AlertKind.NEEDS_REAUTHORIZATION,
        subject=subject_of(integration),
        workspace=integration.workspace,
        integration=integration,
        title=f"“{integration.name}” needs re-authorization",
        body=(
            f"Rally refused the credential of “{integration.name}” (revoked, expired or "
            f"changed in Rally). Nothing goes to Rally or comes back until someone authorizes "
            f"{where} again: open its settings and choose Re-authorize. What waits to be sent "
            "is kept and goes out then."
        ),
        url=settings_url(source),
    )


def failures_alert(integration: Integration) -> services.Alert | None:
    if integration.state != IntegrationState.ENABLED:
        return None
    failed = OutboxItem.objects.filter(integration=integration, state=OutboxState.FAILED).count()
    since = now() - timedelta(minutes=settings.ALERTS_FAILURE_MINUTES)
    # One kind of error that keeps coming back (retried rows, the credential has its own alert).
    lasting = sorted(
        set(
            OutboxItem.objects.filter(
                integration=integration,
                state=OutboxState.QUEUED,
                first_attempt_at__lt=since,
            )
            .exclude(error_kind__in=["", ErrorKind.AUTH])
            .values_list("error_kind", flat=True)
        )
    )
    many = failed >= settings.ALERTS_FAILED_ROWS
    if not many and not lasting:
        return None
    said = []
    if many:
        said.append(f"{failed} changes failed and wait for someone (Retry or fix the record).")
    for kind in lasting:
        label = ErrorKind(kind).label
        said.append(
            f"Sends have met “{label}” for more than {settings.ALERTS_FAILURE_MINUTES} minutes "
            "and are retried."
        )
    return services.Alert(
        kind=AlertKind.FAILURES,
        subject=subject_of(integration),
        workspace=integration.workspace,
        integration=integration,
        title=f"“{integration.name}” is failing",
        body=" ".join(said) + " The integration's log says what Rally answered.",
        url=log_url(integration),
        # Said again when the failures change in kind, not in number.
        fingerprint=",".join((["rows"] if many else []) + lasting),
    )


def note_catch_up(integration_id: int, *, changed: list) -> None:
    """The catch-up's listener: keep the changes it applied (while a webhook is registered),
    then evaluate the webhooks' silence: a delivery received after a change shows the webhook
    told of it (or works, if that one was lost), and the change is forgotten."""
    found = Integration.objects.select_related("workspace", "template").filter(pk=integration_id)
    integration = found.first()
    if integration is None:
        return
    if changed and _webhook_registered(integration):
        _keep_undelivered(integration, changed)
    alert = webhooks_alert(integration)
    if alert is None:
        services.release(AlertKind.WEBHOOKS_SILENT, subject_of(integration))
    else:
        services.hold(alert, recipients=services.owners_of(integration.workspace))


def _keep_undelivered(integration, changed: list) -> None:
    """Keep the changes no delivery has followed yet (a few statements, whatever their number:
    when webhooks work, the delivery usually came before the catch-up and nothing is kept)."""
    seen_at = now()
    last = _last_delivery(integration)
    room = KEEP_UNDELIVERED - UndeliveredChange.objects.filter(integration=integration).count()
    rows = []
    for oid, stamp in changed:
        changed_at = min(parse_datetime(stamp) or seen_at, seen_at) if stamp else seen_at
        if last is not None and changed_at <= last:
            continue
        rows.append(
            UndeliveredChange(integration=integration, rally_oid=oid, changed_at=changed_at)
        )
    if rows and room > 0:
        # An object kept already keeps its first change time.
        UndeliveredChange.objects.bulk_create(rows[:room], ignore_conflicts=True)


def _last_delivery(integration):
    return IncomingEvent.objects.filter(integration=integration).aggregate(Max("received_at"))[
        "received_at__max"
    ]


def _webhook_registered(integration) -> bool:
    return WebhookRegistration.objects.filter(
        pk=integration.pk, state=WebhookState.REGISTERED
    ).exists()


def webhooks_alert(integration: Integration) -> services.Alert | None:
    """Changes the catch-up found that no webhook delivered for longer than the setting."""
    if integration.state != IntegrationState.ENABLED or not _webhook_registered(integration):
        UndeliveredChange.objects.filter(integration=integration).delete()
        return None
    # A delivery received since a change shows the webhook works (it delivered that change,
    # or that one was lost): the changes before it are forgotten.
    last = _last_delivery(integration)
    if last is not None:
        UndeliveredChange.objects.filter(integration=integration, changed_at__lte=last).delete()
    minutes = settings.ALERTS_WEBHOOK_SILENCE_MINUTES
    silent = UndeliveredChange.objects.filter(
        integration=integration, changed_at__lt=now() - timedelta(minutes=minutes)
    ).count()
    if not silent:
        return None
    return services.Alert(
        kind=AlertKind.WEBHOOKS_SILENT,
        subject=subject_of(integration),
        workspace=integration.workspace,
        integration=integration,
        title=f"Rally's webhooks seem off for “{integration.name}”",
        body=(
            f"The catch-up found changes in Rally that no webhook delivered for more than "
            f"{minutes} minutes, though the integration's webhook is registered. Changes still "
            "come back, but only with the catch-up's schedule. What to check: in Rally, a "
            "subscription administrator can switch every webhook off at once (Setup → "
            "Subscription, Webhooks), or the webhook itself may be disabled; and Rally must "
            f"reach {settings.SITE_URL} (SITE_URL). The integration's settings show its webhook."
        ),
        url=settings_url(integration),
    )


def review_alert(workspace) -> services.Alert | None:
    """Integration updates waiting for a reviewer for longer than the setting."""
    before = now() - timedelta(hours=settings.ALERTS_REVIEW_WAIT_HOURS)
    waiting = (
        OutboxItem.objects.filter(
            state=OutboxState.AWAITING_APPROVAL,
            integration__workspace=workspace,
            created_at__lt=before,
        ).count()
        + Conflict.objects.filter(
            state=ConflictState.OPEN,
            link__integration__workspace=workspace,
            created_at__lt=before,
        ).count()
        + ImportCandidate.objects.filter(
            state=ImportState.PENDING, integration__workspace=workspace, created_at__lt=before
        ).count()
    )
    if not waiting:
        return None
    hours = settings.ALERTS_REVIEW_WAIT_HOURS
    return services.Alert(
        kind=AlertKind.REVIEW_WAITING,
        subject=f"workspace:{workspace.pk}",
        workspace=workspace,
        title=f"{waiting} Integration update{'s' if waiting != 1 else ''} wait in {workspace.name}",
        body=(
            f"{waiting} change{'s' if waiting != 1 else ''}, conflict{'s' if waiting != 1 else ''}"
            f" or import{'s' if waiting != 1 else ''} have waited for a reviewer for more than "
            f"{hours} hour{'s' if hours != 1 else ''}. Approve, decide or reject them on "
            "Integration updates."
        ),
        url=reverse("sync:integration_updates"),
        # A digest: said again each day the queue still holds old items.
        fingerprint=now().date().isoformat(),
    )


def evaluate_all() -> dict:
    """Every condition of every integration and workspace (the alerts' schedule)."""
    said = {}
    integrations = Integration.objects.exclude(state=IntegrationState.DRAFT).select_related(
        "workspace", "template"
    )
    workspaces = {}
    for integration in integrations:
        kinds = evaluate_integration(integration)
        if kinds:
            said[integration.pk] = kinds
        workspaces[integration.workspace_id] = integration.workspace
    for workspace in workspaces.values():
        alert = review_alert(workspace)
        if alert is None:
            services.release(AlertKind.REVIEW_WAITING, f"workspace:{workspace.pk}")
        elif services.hold(alert, recipients=services.reviewers_of(workspace)):
            said[f"workspace:{workspace.pk}"] = [AlertKind.REVIEW_WAITING]
    return said
