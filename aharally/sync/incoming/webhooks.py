"""Rally's webhooks: registered when an integration is enabled, removed when it is disabled or
deleted, and received at a URL that carries a per-integration secret (Rally signs nothing).

A delivery is checked, kept once per Rally message id and answered at once; it then asks for
the integration's catch-up (`sync.catchup`: deliveries coalesce, at most one waits in the queue),
so a webhook and the catch-up apply the same rules and a lost webhook loses nothing. A delivery
is a doorbell, never evidence: a "Deleted" one breaks a link only when Rally, asked, no longer
has the object (anyone who learns the URL can post one).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from aharally.concurrency.rate import SlidingWindowLimit
from aharally.integrations.connection import RallyProblem, client_for, explain
from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, IntegrationState, LogLevel
from aharally.integrations.secrets import Secret
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import (
    RallyAuthError,
    RallyError,
    RallyNotFound,
    RallyPermissionDenied,
)
from aharally.sync.incoming.catchup import request_catch_up
from aharally.sync.models import (
    IncomingEvent,
    WebhookRegistration,
    WebhookState,
)

logger = logging.getLogger(__name__)

MAX_DELIVERY_BYTES = 1_000_000
ACTIONS = {"Created", "Updated", "Deleted"}
# Deliveries accepted per integration in any 60 seconds; more answer 429 (Rally delivers again).
RATE_LIMIT_PER_MINUTE = 600
# A registration in progress older than this was abandoned (its worker died).
REGISTERING_TIMEOUT = timedelta(minutes=2)
# The claim of a registration under way: a state no page shows, so not a WebhookState choice.
REGISTERING = "registering"


class DeliveryRefused(Exception):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _reveal(value) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value or "")


def target_url(integration_id: int, secret: str) -> str:
    path = reverse("sync:webhook", kwargs={"integration_id": integration_id, "secret": secret})
    return settings.SITE_URL + path


def webhook_object_types(config) -> list[str]:
    """Rally's webhook type names of the mapped types (PI types without their prefix)."""
    names = []
    for record_mapping in config.record_mappings:
        rally_type = record_mapping.rally_type
        if rally_type.lower().startswith("portfolioitem/"):
            names.append(rally_type.split("/", 1)[1])
        elif rally_type == "HierarchicalRequirement":
            names.append(rally_type)
    return names


# -- registering, in the cluster ---------------------------------------------------------------


def register_webhook(integration_id: int) -> str:
    """Make sure Rally has one webhook for the integration (idempotent); returns its state."""
    integration = Integration.objects.select_related("template").filter(pk=integration_id).first()
    if integration is None or integration.state != IntegrationState.ENABLED:
        return "not enabled"
    registration, _ = WebhookRegistration.objects.get_or_create(integration=integration)
    stale = timezone.now() - REGISTERING_TIMEOUT
    claimed = (
        WebhookRegistration.objects.filter(pk=integration.pk)
        .exclude(state=REGISTERING, updated_at__gt=stale)
        .update(state=REGISTERING, updated_at=timezone.now())
    )
    if not claimed:
        return "already registering"
    secret = _reveal(registration.secret)
    if not secret:
        secret = secrets.token_urlsafe(32)
        registration.secret = secret
        registration.save(update_fields=["secret"])
    url = target_url(integration.pk, secret)
    config = effective_config(integration)
    outcome = WebhookState.FAILED
    problem = ""
    try:
        client = client_for(integration, interactive=False)
        try:
            ours = [w for w in client.webhooks() if w.get("TargetUrl") == url]
            for extra in ours[1:]:  # a race of two registrations left two: keep one
                client.delete_webhook(str(extra.get("ObjectUUID")))
            if ours:
                webhook_uuid = str(ours[0].get("ObjectUUID") or "")
            else:
                workspace = client.read(
                    f"/workspace/{config.rally_workspace_oid}", fetch=["ObjectUUID"]
                )
                created = client.create_webhook(
                    name=f"aharally: {integration.name}"[:255],
                    target_url=url,
                    object_types=webhook_object_types(config),
                    expressions=[
                        {"AttributeName": "Workspace", "Operator": "=", "Value": workspace.uuid}
                    ],
                    app_url=settings.SITE_URL,
                )
                webhook_uuid = str(created.get("ObjectUUID") or "")
        finally:
            client.close()
        outcome = WebhookState.REGISTERED
        log_event(
            integration,
            LogLevel.INFO,
            "Rally tells aharally of changes by webhook as they happen.",
        )
    except RallyPermissionDenied:
        outcome = WebhookState.REFUSED
        webhook_uuid = ""
        problem = (
            "Rally's user of this integration may not manage webhooks (only subscription "
            "administrators may): changes from Rally arrive by the catch-up, every minute."
        )
        log_event(
            integration,
            LogLevel.WARNING,
            problem,
            "To get changes at once, authorize the integration as a Rally subscription "
            "administrator, then disable and enable it.",
        )
    except RallyAuthError as error:
        webhook_uuid = ""
        problem = explain(integration, error, doing="register a Rally webhook").message
    except (RallyError, RallyProblem) as error:
        webhook_uuid = ""
        problem = f"Could not register a Rally webhook: {getattr(error, 'message', error)}"
        log_event(integration, LogLevel.WARNING, problem, "It is tried again when enabled.")
    WebhookRegistration.objects.filter(pk=integration.pk).update(
        state=outcome, webhook_uuid=webhook_uuid, problem=problem, updated_at=timezone.now()
    )
    return outcome


def unregister_webhook(integration: Integration, *, interactive: bool = False) -> None:
    """Remove the integration's webhook from Rally (when disabled or deleted)."""
    registration = WebhookRegistration.objects.filter(pk=integration.pk).first()
    if registration is None or not registration.webhook_uuid:
        return
    try:
        client = client_for(integration, interactive=interactive)
        try:
            client.delete_webhook(registration.webhook_uuid)
        finally:
            client.close()
    except RallyNotFound:
        pass
    except (RallyError, RallyProblem) as error:
        log_event(
            integration,
            LogLevel.WARNING,
            f"Could not remove the Rally webhook: {getattr(error, 'message', error)}",
            "A subscription administrator can delete it in Rally (Webhooks).",
        )
        return
    WebhookRegistration.objects.filter(pk=integration.pk).update(
        state=WebhookState.REMOVED, webhook_uuid=""
    )


# -- receiving, in the web process ---------------------------------------------------------------


def receive_delivery(*, integration_id: int, secret: str, body: bytes) -> IncomingEvent | None:
    """Check and keep one delivery; returns the new event, None for a repeat.

    Raises DeliveryRefused (with the HTTP status to answer) for anything else. No HTTP to Rally.
    """
    registration = (
        WebhookRegistration.objects.select_related("integration").filter(pk=integration_id).first()
    )
    expected = _reveal(registration.secret) if registration is not None else ""
    if not expected or not hmac.compare_digest(expected.encode(), secret.encode()):
        raise DeliveryRefused("No such webhook.", status=404)
    if len(body) > MAX_DELIVERY_BYTES:
        raise DeliveryRefused("The delivery is larger than 1 MB.", status=413)
    if not _within_rate(integration_id):
        raise DeliveryRefused("Too many deliveries; deliver again later.", status=429)
    message = parse_delivery(body)
    try:
        with transaction.atomic():
            event = IncomingEvent.objects.create(
                integration_id=integration_id,
                message_id=message["message_id"],
                action=message["action"],
                object_type=message["object_type"],
                object_oid=message["object_oid"],
            )
    except IntegrityError:
        return None  # delivered before: already handled

    # After the commit, so the run it queues (or the one already pending) sees the event.
    transaction.on_commit(lambda: request_catch_up(integration_id))
    return event


def _within_rate(integration_id: int) -> bool:
    return SlidingWindowLimit(
        f"sync-webhook:{integration_id}", limit=RATE_LIMIT_PER_MINUTE, window=60
    ).allow()


def parse_delivery(body: bytes) -> dict[str, Any]:
    """What aharally needs of a delivery; DeliveryRefused(400) for anything malformed."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DeliveryRefused("The delivery is not JSON.", status=400) from None
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise DeliveryRefused("The delivery has no message.", status=400)
    message_id = message.get("message_id")
    action = message.get("action")
    object_type = message.get("object_type")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 64:
        raise DeliveryRefused("The delivery has no message id.", status=400)
    if action not in ACTIONS:
        raise DeliveryRefused(
            "The delivery's action is not Created, Updated or Deleted.", status=400
        )
    if not isinstance(object_type, str) or len(object_type) > 100:
        raise DeliveryRefused("The delivery names no object type.", status=400)
    return {
        "message_id": message_id,
        "action": action,
        "object_type": object_type,
        "object_oid": _object_id(message.get("state")),
    }


def _object_id(state: Any) -> int | None:
    """The numeric ObjectID in the delivery's `state` (attributes are keyed by UUID)."""
    if not isinstance(state, dict):
        return None
    for attribute in state.values():
        if isinstance(attribute, dict) and attribute.get("name") == "ObjectID":
            value = attribute.get("value")
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
                return value
    return None
