"""The outbox: every outgoing change, bulk-send jobs, and the drain lease.

DESIGN.md "The sync" rules 2 and 3: only the outbox creates Rally objects; every outgoing
change is an `OutboxItem` written in the transaction of the edit that caused it; failures
keep their kind and retry time and nothing is deleted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aharally.integrations.models import Integration
from aharally.workspaces.models import RecordType, Workspace


class OutboxKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    LINK = "link", "Link to an existing Rally record"
    # A comment or an attachment of a linked record, sent once (sync/outgoing/discussion.py):
    # its row's record_type is "comment" or "attachment" and record_id the item's id, so the
    # record's own rows (one open row a record) never meet it.
    COMMENT = "comment", "Comment"
    ATTACHMENT = "attachment", "Attachment"
    # A sent comment's new text, as an update of its post's Text; and a sent comment or
    # attachment deleted here, as a delete of its Rally object (record_type and record_id as
    # above: the item's).
    EDIT = "edit", "Comment edit"
    REMOVE = "remove", "Deletion"


# The kinds that send a comment or an attachment rather than a record.
DISCUSSION_KINDS = (OutboxKind.COMMENT, OutboxKind.ATTACHMENT, OutboxKind.EDIT, OutboxKind.REMOVE)
# The kinds that make an item in Rally (at most one a Rally per item: DiscussionPair).
DISCUSSION_CREATES = (OutboxKind.COMMENT, OutboxKind.ATTACHMENT)


class OutboxState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    IN_FLIGHT = "in_flight", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"


# Rows that still wait to go out (at most one per record and integration: changes merge).
OPEN_STATES = (OutboxState.AWAITING_APPROVAL, OutboxState.QUEUED, OutboxState.FAILED)


class ErrorKind(models.TextChoices):
    TRANSIENT = "transient", "Rally unavailable"
    THROTTLED = "throttled", "Throttled by Rally"
    VALIDATION = "validation", "Refused by Rally"
    REQUIRED = "required", "Required field empty"
    AUTH = "auth", "Needs re-authorization"
    CONFIG = "config", "Configuration"
    OUTCOME_UNKNOWN = "outcome_unknown", "Answer lost"
    NOT_FOUND = "not_found", "Rally record gone"


class SendJob(models.Model):
    """A bulk send started by a person: its rows carry `job`; progress is counted from them."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="send_jobs")
    label = models.CharField(max_length=200)
    total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.label


class OutboxItem(models.Model):
    """One outgoing change of one record: a create, or an update of some fields."""

    # No index of its own: the (integration, state, not_before) index leads with it, and
    # every row a send writes would write both.
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="outbox", db_index=False
    )
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=10, choices=OutboxKind.choices)
    # aharally field names to send (an update); a create sends every mapped field.
    fields = models.JSONField(default=list, blank=True)
    # Field → the new value (normalised) when the row was last written, for the reviewer.
    values = models.JSONField(default=dict, blank=True)
    # What was sent in the end (field → value), for the record's integration history.
    sent_values = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, choices=OutboxState.choices, db_index=True)
    job = models.ForeignKey(
        SendJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    # After a create, also send the record's children (a feature's requirements).
    cascade = models.BooleanField(default=False)
    # Queued by a parent's cascade rather than by a person (not counted in a job's progress).
    from_parent = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=40, blank=True)
    # When a create was first sent: a lost answer is looked for among objects created since.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    # The last attempt's answer may have been lost: look in Rally before sending again.
    look_before_send = models.BooleanField(default=False)
    error_kind = models.CharField(max_length=20, choices=ErrorKind.choices, blank=True)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "record_type", "record_id"],
                condition=Q(state__in=[s.value for s in OPEN_STATES]),
                name="one_open_outbox_row_per_record",
            ),
            # Whatever races, a record has one create not yet done: one Rally object.
            models.UniqueConstraint(
                fields=["integration", "record_type", "record_id"],
                condition=Q(
                    kind=OutboxKind.CREATE.value,
                    state__in=[*[s.value for s in OPEN_STATES], OutboxState.IN_FLIGHT.value],
                ),
                name="one_unsent_create_per_record",
            ),
        ]
        indexes = [
            models.Index(fields=["integration", "state", "not_before"]),
            models.Index(fields=["record_type", "record_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.record_type} {self.record_id} ({self.state})"


class DrainLease(models.Model):
    """Who is draining an integration's outbox now; one drainer at a time per integration.

    A lease expires unless renewed, so a killed worker's lease is taken over.
    """

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    holder = models.CharField(max_length=40, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"lease of {self.integration_id} by {self.holder or 'nobody'}"
