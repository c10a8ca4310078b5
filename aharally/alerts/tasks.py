"""django-q2 entry points of the alerts, and their schedules (declared here, made after migrate)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_q.models import Schedule

from aharally.alerts import checks, services
from aharally.alerts.models import AlertKind
from aharally.integrations.models import Integration

EVALUATE = "aharally.alerts.tasks.evaluate"
DIGESTS = "aharally.alerts.tasks.send_digests"
EVALUATE_SCHEDULE_NAME = "aharally.alerts.evaluate"
DIGESTS_SCHEDULE_NAME = "aharally.alerts.digests"


def evaluate() -> dict:
    return {"said": checks.evaluate_all()}


def send_digests() -> dict:
    return {"sent": services.send_digests(), "pruned": services.prune_read()}


def _and_built_on(integration) -> list[Integration]:
    """The integration and those built on it (they share its credential)."""
    return [
        integration,
        *Integration.objects.filter(template=integration.source).exclude(pk=integration.pk),
    ]


def on_needs_reauthorization(integration) -> None:
    """Rally refused the credential: the owners hear of it once the refusal is stored."""
    ids = [i.pk for i in _and_built_on(integration)]

    def say() -> None:
        for each in Integration.objects.filter(pk__in=ids).select_related("workspace", "template"):
            alert = checks.reauthorization_alert(each)
            if alert is not None:
                services.hold(alert, recipients=services.owners_of(each.workspace))

    transaction.on_commit(say)


def on_authorized(integration) -> None:
    for each in _and_built_on(integration):
        services.release(AlertKind.NEEDS_REAUTHORIZATION, checks.subject_of(each))


def ensure_schedules(**_kwargs) -> None:
    """Create the alerts' schedules once (after migrate); idempotent."""
    Schedule.objects.update_or_create(
        name=EVALUATE_SCHEDULE_NAME,
        defaults={
            "func": EVALUATE,
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.ALERTS_EVALUATE_MINUTES,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=DIGESTS_SCHEDULE_NAME,
        defaults={"func": DIGESTS, "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
