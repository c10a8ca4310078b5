"""Webhooks: managing rules, and queueing a delivery for every change that matches one.

`artifact_changed()` is called by the WSAPI after each committed create, update or delete. It
only writes queue rows; the delivery thread (pigeon.worker) sends them, so a slow or failing
receiver never slows or breaks the write that caused the delivery.
"""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import Project, User
from rally_sandbox.pigeon import matcher
from rally_sandbox.pigeon.context import current_base_url
from rally_sandbox.pigeon.models import Delivery, Webhook
from rally_sandbox.pigeon.payload import build_message

log = logging.getLogger(__name__)

ACTIONS = ("Created", "Updated", "Deleted")
OBJECT_TYPES = {
    "hierarchicalrequirement",
    "userstory",
    "defect",
    "task",
    "feature",
    "initiative",
    "theme",
    "portfolioitem/feature",
    "portfolioitem/initiative",
    "portfolioitem/theme",
}
EDITABLE = {
    "Name",
    "AppName",
    "AppUrl",
    "TargetUrl",
    "ObjectTypes",
    "Expressions",
    "Disabled",
    "CreatedBy",
}
# Echoed back by clients that PUT/PATCH a whole webhook; ignored rather than rejected.
READ_ONLY = {
    "_ref",
    "_type",
    "_objectVersion",
    "ObjectUUID",
    "FireCount",
    "ErrorCount",
    "LastSuccess",
    "LastFailure",
    "LastStatus",
    "LastWebhookResponseTime",
    "OwnerID",
    "SubscriptionID",
    "CreationDate",
    "LastUpdateDate",
}


class WebhookError(ValueError):
    """A webhook definition that cannot be saved; the message says why."""


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_json(webhook: Webhook, *, base_url: str | None = None) -> dict[str, Any]:
    """A webhook as the pigeon API returns it and as deliveries echo it in `rule`."""
    data: dict[str, Any] = {}
    if base_url:
        data["_ref"] = f"{base_url}/apps/pigeon/api/v2/webhook/{webhook.uuid}"
    data.update(
        {
            "_type": "webhook",
            "_objectVersion": webhook.object_version,
            "ObjectUUID": str(webhook.uuid),
            "Name": webhook.name,
            "AppName": webhook.app_name,
            "AppUrl": webhook.app_url,
            "TargetUrl": webhook.target_url,
            "ObjectTypes": webhook.object_types,
            "Expressions": webhook.expressions,
            "Disabled": webhook.disabled,
            "FireCount": webhook.fire_count,
            "ErrorCount": webhook.error_count,
            "LastSuccess": _iso(webhook.last_success),
            "LastFailure": _iso(webhook.last_failure),
            "LastStatus": webhook.last_status,
            "LastWebhookResponseTime": webhook.last_response_ms,
            "CreatedBy": webhook.created_by,
            "OwnerID": str(webhook.owner.uuid) if webhook.owner else None,
            "SubscriptionID": webhook.subscription.subscription_id,
            "CreationDate": _iso(webhook.creation_date),
            "LastUpdateDate": _iso(webhook.last_update_date),
        }
    )
    return data


def _text(data: dict, name: str, *, required: bool, max_length: int) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise WebhookError(f"{name} is required.")
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise WebhookError(f"{name} must be a string of at most {max_length} characters.")
    return value.strip()


def _url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError(f"{name} must be an absolute http or https URL.")
    return value


def _object_types(value: Any) -> list[str]:
    try:
        types = matcher.normalise_object_types(value)
    except matcher.RuleError as exc:
        raise WebhookError(str(exc)) from None
    unknown = [t for t in types if t.lower() not in OBJECT_TYPES]
    if unknown:
        raise WebhookError(f"Unknown ObjectTypes: {', '.join(unknown)}.")
    return types


def _expressions(value: Any) -> list[dict[str, Any]]:
    try:
        return matcher.normalise_expressions(value)
    except matcher.RuleError as exc:
        raise WebhookError(str(exc)) from None


def _check_keys(data: Any) -> dict:
    if not isinstance(data, dict):
        raise WebhookError("Send the webhook as a JSON object.")
    unknown = set(data) - EDITABLE - READ_ONLY
    if unknown:
        raise WebhookError(f"Unknown webhook fields: {', '.join(sorted(unknown))}.")
    return data


def create_webhook(*, owner: User, data: Any) -> Webhook:
    data = _check_keys(data)
    disabled = data.get("Disabled", False)
    if not isinstance(disabled, bool):
        raise WebhookError("Disabled must be true or false.")
    return Webhook.objects.create(
        subscription=owner.subscription,
        owner=owner,
        name=_text(data, "Name", required=True, max_length=255),
        app_name=_text(data, "AppName", required=False, max_length=255),
        app_url=_text(data, "AppUrl", required=False, max_length=2000),
        target_url=_url(_text(data, "TargetUrl", required=True, max_length=2000), "TargetUrl"),
        created_by=_text(data, "CreatedBy", required=False, max_length=255),
        object_types=_object_types(data.get("ObjectTypes")),
        expressions=_expressions(data.get("Expressions")),
        disabled=disabled,
    )


def update_webhook(*, webhook: Webhook, data: Any) -> Webhook:
    """A partial update (PATCH): only the fields sent change."""
    data = _check_keys(data)
    if "Name" in data:
        webhook.name = _text(data, "Name", required=True, max_length=255)
    if "AppName" in data:
        webhook.app_name = _text(data, "AppName", required=False, max_length=255)
    if "AppUrl" in data:
        webhook.app_url = _text(data, "AppUrl", required=False, max_length=2000)
    if "TargetUrl" in data:
        webhook.target_url = _url(
            _text(data, "TargetUrl", required=True, max_length=2000), "TargetUrl"
        )
    if "CreatedBy" in data:
        webhook.created_by = _text(data, "CreatedBy", required=False, max_length=255)
    if "ObjectTypes" in data:
        webhook.object_types = _object_types(data["ObjectTypes"])
    if "Expressions" in data:
        webhook.expressions = _expressions(data["Expressions"])
    if "Disabled" in data:
        if not isinstance(data["Disabled"], bool):
            raise WebhookError("Disabled must be true or false.")
        webhook.disabled = data["Disabled"]
    webhook.object_version += 1
    webhook.save()
    return webhook


def _project_uuids(state: dict[str, Any], artifact: Any) -> list[str]:
    """The object's project and every project above it (for the `project` operator)."""
    project = getattr(artifact, "project", None) if not isinstance(artifact, dict) else None
    if project is None:
        ref = state.get("Project") if isinstance(state.get("Project"), dict) else {}
        project_uuid = ref.get("_refObjectUUID")
        project = Project.objects.filter(uuid=project_uuid).first() if project_uuid else None
    uuids: list[str] = []
    seen: set[int] = set()
    while project is not None and project.pk not in seen:
        seen.add(project.pk)
        uuids.append(str(project.uuid))
        project = project.parent
    return uuids


def _actor_json(actor: Any) -> dict[str, Any] | None:
    if actor is None:
        return None
    actor = getattr(actor, "user", actor)  # a Caller or a User
    return {
        "uuid": str(actor.uuid),
        "username": actor.username,
        "email": actor.email,
    }


def _render(artifact: Any, *, created: bool) -> dict[str, Any]:
    if isinstance(artifact, dict):
        return artifact
    from rally_sandbox.wsapi.render import render_full

    return render_full(artifact, base_url=current_base_url.get(), created=created)


def _with_state_order(value: Any) -> Any:
    """A portfolio item State ref with its OrderIndex, which deliveries show as order_index."""
    if not (
        isinstance(value, dict) and value.get("_type") == "State" and "OrderIndex" not in value
    ):
        return value
    from rally_sandbox.wsapi.models import State

    states = State.objects.filter(uuid=value.get("_refObjectUUID"))
    order = states.values_list("order_index", flat=True).first()
    return value if order is None else {**value, "OrderIndex": order}


def artifact_changed(
    *,
    action: str,
    artifact: Any,
    changes: dict[str, tuple] | None,
    actor: Any,
) -> None:
    """Queue a delivery to every enabled webhook whose rule the change matches.

    `artifact` is the model instance (or its WSAPI JSON, e.g. captured before a delete).
    Never raises: a broken webhook must not turn a committed write into an error.
    """
    try:
        queued = _queue_deliveries(action=action, artifact=artifact, changes=changes, actor=actor)
    except Exception:
        log.exception("Could not queue webhook deliveries for a %s artifact", action)
        return
    if queued:
        from rally_sandbox.pigeon.worker import wake

        wake()


def has_enabled_webhooks() -> bool:
    return bool(generation.cached(("webhooks",), _enabled_webhooks))


def _enabled_webhooks() -> list[Webhook]:
    """Matched on every write: cached per generation (a webhook's save or delete bumps it;
    its delivery statistics, written with update(), are not part of what is matched)."""
    enabled = Webhook.objects.filter(disabled=False, subscription__webhooks_enabled=True)
    return list(enabled.select_related("subscription"))


def _queue_deliveries(
    *, action: str, artifact: Any, changes: dict[str, tuple] | None, actor: Any
) -> int:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    webhooks = generation.cached(("webhooks",), _enabled_webhooks)
    if not webhooks:
        return 0
    state = _render(artifact, created=action == "Created")
    type_name = state.get("_type") or ""
    rule_changes = (changes or {}) if action == "Updated" else {}
    if "State" in state:
        state = {**state, "State": _with_state_order(state["State"])}
    if "State" in rule_changes:
        old, new = rule_changes["State"]
        rule_changes = {**rule_changes, "State": (_with_state_order(old), _with_state_order(new))}
    project_uuids = _project_uuids(state, artifact)
    matching = [
        webhook
        for webhook in webhooks
        if matcher.rule_matches(
            object_types=webhook.object_types,
            expressions=webhook.expressions,
            type_name=type_name,
            state=state,
            changes=rule_changes,
            project_uuids=project_uuids,
        )
    ]
    if not matching:
        return 0
    object_id = int(state.get("ObjectID") or getattr(artifact, "pk", 0) or 0)
    actor_json = _actor_json(actor)
    now = timezone.now()
    template: dict[str, Any] | None = None
    deliveries = []
    for webhook in matching:
        message_id = uuid.uuid4()
        if template is None:
            template = build_message(
                action=action,
                state=state,
                changes=rule_changes,
                actor=actor_json,
                subscription_id=webhook.subscription.subscription_id,
                message_id=str(message_id),
            )
            message = template
        else:
            message = copy.deepcopy(template)
            message["message_id"] = message["transaction"]["message_id"] = str(message_id)
            message["subscription_id"] = webhook.subscription.subscription_id
        deliveries.append(
            Delivery(
                webhook=webhook,
                message_id=message_id,
                action=action,
                object_type=message["object_type"],
                object_id=object_id,
                payload=message,
                next_attempt_at=now,
            )
        )
    with transaction.atomic():
        Delivery.objects.bulk_create(deliveries)
    return len(deliveries)
