"""Webhooks ("pigeon"): the rules, and a queue of deliveries with a record of every attempt."""

from __future__ import annotations

import uuid

from django.db import models


class Webhook(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        "sandbox_accounts.Subscription", on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(
        "sandbox_accounts.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    app_name = models.CharField(max_length=255, blank=True)
    app_url = models.CharField(max_length=2000, blank=True)
    target_url = models.CharField(max_length=2000)
    created_by = models.CharField(max_length=255, blank=True)
    # Type names as Rally's webhooks use them: HierarchicalRequirement, Defect, Feature…
    object_types = models.JSONField(default=list)
    # [{"AttributeID", "AttributeName", "Operator", "Value"}], all ANDed.
    expressions = models.JSONField(default=list)
    disabled = models.BooleanField(default=False)
    fire_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    last_success = models.DateTimeField(null=True, blank=True)
    last_failure = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_response_ms = models.IntegerField(null=True, blank=True)
    object_version = models.PositiveIntegerField(default=1)
    creation_date = models.DateTimeField(auto_now_add=True)
    last_update_date = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "sandbox_pigeon_webhook"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after the last attempt

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    action = models.CharField(max_length=20)
    object_type = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set while a delivery thread works on it, so two threads never send the same one.
    leased_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_pigeon_delivery"
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} → {self.webhook_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started = models.DateTimeField()
    duration_ms = models.IntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "sandbox_pigeon_attempt"
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
