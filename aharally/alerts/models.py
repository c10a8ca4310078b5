"""Alerts: episodes (a condition that holds, said once), notifications, people's preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aharally.integrations.models import Integration
from aharally.workspaces.models import Workspace


class AlertKind(models.TextChoices):
    NEEDS_REAUTHORIZATION = "needs_reauthorization", "An integration needs re-authorization"
    FAILURES = "failures", "An integration's failures pass the threshold"
    WEBHOOKS_SILENT = "webhooks_silent", "Rally's webhooks seem off"
    REVIEW_WAITING = "review_waiting", "Integration updates wait for a reviewer"


class Episode(models.Model):
    """A condition from when it starts to hold until it no longer does: its alert is sent once
    at the start, and again only when what it says (`fingerprint`) changes."""

    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # What it is about, one open episode each: "integration:12", "workspace:3".
    subject = models.CharField(max_length=60)
    fingerprint = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    said_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # At most one open episode of a kind for a subject (the race of two evaluations
            # ends in an IntegrityError for one of them, never in two alerts).
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(closed_at__isnull=True),
                name="one_open_episode_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject}"


class Notification(models.Model):
    """What one person is told: in the app (the bell) and, by their preferences, by e-mail."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    episode = models.ForeignKey(
        Episode, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # Where it is fixed (a path on this site).
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when an e-mail said it (at once, or in a digest); empty while a digest will.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="alerts_unread")]

    def __str__(self) -> str:
        return f"{self.title} for {self.user_id}"


class Preference(models.Model):
    """One person's choices; someone without a row gets every kind, each by e-mail at once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_preference"
    )
    # The kinds this person is not told of.
    muted_kinds = models.JSONField(default=list, blank=True)
    email = models.BooleanField(default=True)
    daily_digest = models.BooleanField(default=False)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"alert preferences of {self.user_id}"

    def wants(self, kind: str) -> bool:
        return kind not in self.muted_kinds


class UndeliveredChange(models.Model):
    """A change the catch-up applied that no webhook delivered (while one is registered)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    rally_oid = models.BigIntegerField()
    # When Rally says it changed (or when the catch-up saw it, if that is earlier).
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "rally_oid"], name="one_undelivered_change_per_object"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rally_oid} undelivered to {self.integration_id}"
