"""What comes from Rally: the catch-up's cursors, webhooks and their deliveries, and
new Rally records waiting for import."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aharally.integrations.models import Integration
from aharally.integrations.secrets import EncryptedTextField
from aharally.workspaces.models import RecordType


class PullCursor(models.Model):
    """How far the catch-up has read each Rally type of an integration, and who reads now.

    `cursors` maps a Rally type to the `LastUpdateDate` of the last object applied; it moves
    only after a page is applied, so an outage or a killed worker loses nothing.
    """

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    cursors = models.JSONField(default=dict, blank=True)
    holder = models.CharField(max_length=40, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_pulled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"catch-up of {self.integration_id}"


class WebhookState(models.TextChoices):
    REGISTERED = "registered", "Registered"
    REFUSED = "refused", "Not allowed (catch-up only)"
    FAILED = "failed", "Failed"
    REMOVED = "removed", "Removed"


class WebhookRegistration(models.Model):
    """The Rally webhook that tells an integration of changes at once.

    Rally signs nothing, so the target URL carries a per-integration secret: a delivery
    without it is refused. When Rally's user may not manage webhooks, the integration works
    on the catch-up alone and says so.
    """

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, primary_key=True, related_name="webhook"
    )
    secret = EncryptedTextField(blank=True)
    webhook_uuid = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, choices=WebhookState.choices, blank=True)
    problem = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"webhook of {self.integration_id} ({self.state or 'new'})"


class IncomingEvent(models.Model):
    """A webhook delivery, kept once per Rally message id (Rally may deliver again)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="incoming_events"
    )
    message_id = models.CharField(max_length=64)
    action = models.CharField(max_length=20)
    object_type = models.CharField(max_length=100, blank=True)
    object_oid = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "message_id"], name="one_event_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_oid}"


class ImportState(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    IMPORTED = "imported", "Imported"
    IGNORED = "ignored", "Ignored"


class ImportCandidate(models.Model):
    """A new Rally record under a linked parent, waiting to be imported (approve imports)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="imports")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    rally_type = models.CharField(max_length=100)
    rally_oid = models.BigIntegerField()
    formatted_id = models.CharField(max_length=40, blank=True)
    name = models.CharField(max_length=255)
    # Rally's fields as read (what the import is made from, when approved).
    snapshot = models.JSONField(default=dict)
    state = models.CharField(
        max_length=10, choices=ImportState.choices, default=ImportState.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "rally_oid"], name="one_candidate_per_rally_object"
            )
        ]

    def __str__(self) -> str:
        return f"{self.formatted_id} {self.name} ({self.state})"
