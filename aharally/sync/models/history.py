"""A record's integration history: what was sent, received or decided."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aharally.integrations.models import Integration
from aharally.workspaces.models import RecordType


class ActivityAction(models.TextChoices):
    CREATED = "created", "Created in Rally"
    UPDATED = "updated", "Updated in Rally"
    ADOPTED = "adopted", "Found in Rally after a lost answer"
    LINKED = "linked", "Linked to an existing Rally record"
    UNLINKED = "unlinked", "Unlinked"
    QUEUED = "queued", "Queued for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Not sent"
    RECEIVED = "received", "Updated from Rally"
    IMPORTED = "imported", "Imported from Rally"
    CONFLICT = "conflict", "Changed on both sides"
    OWNER_UNKNOWN = "owner_unknown", "Owner in Rally is no one here"
    # A Rally value left out, and an aharally value kept home, for want of a counterpart (a
    # value map without the value, a person who is no one here): said apart from "Updated".
    NOT_APPLIED = "not_applied", "Not applied from Rally"
    NOT_SENT = "not_sent", "Not sent to Rally"


class Activity(models.Model):
    """A record's integration history: what was sent or decided, when, by whom, the result."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="activity")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    action = models.CharField(max_length=20, choices=ActivityAction.choices)
    detail = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["record_type", "record_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.record_type} {self.record_id}"
