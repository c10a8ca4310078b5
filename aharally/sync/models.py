"""The sync's tables: links, the outbox, bulk-send jobs, activity, and the drain lease.

DESIGN.md "The sync" rules 1 to 3: a `Link` is unique on both sides and only the outbox creates
Rally objects; every outgoing change is an `OutboxItem` written in the transaction of the edit
that caused it; failures keep their kind and retry time and nothing is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aharally.integrations.models import Integration
from aharally.integrations.secrets import EncryptedTextField
from aharally.records.history import ago
from aharally.workspaces.models import RecordType, Workspace


class LinkState(models.TextChoices):
    OK = "ok", "Linked"
    BROKEN = "broken", "Broken"


class Link(models.Model):
    """One aharally record ↔ one Rally object, through one integration."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="links")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    rally_type = models.CharField(max_length=100)
    rally_oid = models.BigIntegerField("Rally ObjectID")
    formatted_id = models.CharField(max_length=40, blank=True)
    url = models.URLField(max_length=500)
    # Which Rally the object lives in (sync.links.rally_site): the one-object-one-record rule
    # holds per Rally, across integrations.
    rally_site = models.CharField(max_length=200)
    # Per mapped field, the value both sides last agreed on (normalised; see sync.mapping).
    baseline = models.JSONField(default=dict, blank=True)
    # Rally's version of the object (`_objectVersion`) the baseline reflects, from our newest
    # write or read of it: a read of an older version is stale and changes nothing.
    rally_version = models.PositiveBigIntegerField(null=True, blank=True)
    # Per field, a value a reviewer rejected: not offered again while the record still has it.
    rejected = models.JSONField(default=dict, blank=True)
    # Rally's progress of a portfolio item, as the catch-up last read it:
    # {"count": 0.5, "estimate": 0.4, "stories": 4, "accepted": 2} (fractions 0..1).
    progress = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=LinkState.choices, default=LinkState.OK)
    state_reason = models.TextField(blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration", "record_type", "record_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "record_type", "record_id"], name="one_link_per_record"
            ),
            models.UniqueConstraint(
                fields=["integration", "rally_oid"], name="one_link_per_rally_object"
            ),
            # Across integrations (a template group, or any two on one Rally): one Rally
            # object ↔ one record. Broken links don't count: the object may be linked anew.
            models.UniqueConstraint(
                fields=["rally_site", "rally_oid"],
                condition=Q(state=LinkState.OK.value),
                name="one_record_per_rally_object",
            ),
            models.UniqueConstraint(
                fields=["rally_site", "record_type", "record_id"],
                condition=Q(state=LinkState.OK.value),
                name="one_rally_object_per_record",
            ),
        ]
        indexes = [models.Index(fields=["record_type", "record_id"])]

    def __str__(self) -> str:
        return f"{self.record_type} {self.record_id} ↔ {self.formatted_id or self.rally_oid}"

    @property
    def percent_done(self) -> int | None:
        """Percent done by story count, as Rally computes it (None until it was read)."""
        value = self.progress.get("count")
        return None if value is None else round(100 * float(value))


class OutboxKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    LINK = "link", "Link to an existing Rally record"


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

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="outbox")
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


class ConflictState(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Conflict(models.Model):
    """A field changed on both sides since they last agreed: a reviewer picks the value."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="conflicts")
    field = models.CharField(max_length=40)
    # Normalised values (sync.mapping): aharally's now, Rally's now, and the last agreed one.
    ours = models.JSONField(null=True, blank=True)
    theirs = models.JSONField(null=True, blank=True)
    baseline = models.JSONField(null=True, blank=True)
    ours_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    theirs_by = models.CharField(max_length=200, blank=True)
    state = models.CharField(
        max_length=10, choices=ConflictState.choices, default=ConflictState.OPEN
    )
    resolution = models.CharField(max_length=10, blank=True)  # "ours" or "theirs"
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "field"],
                condition=Q(state=ConflictState.OPEN.value),
                name="one_open_conflict_per_field",
            )
        ]

    def __str__(self) -> str:
        return f"conflict on {self.field} of {self.link}"


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


class JobState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RallySearch(models.Model):
    """An owner's search of the integrated Rally project (run by the cluster, polled by the
    page); its results are what Import from Rally offers."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="rally_searches"
    )
    text = models.CharField(max_length=100)
    page = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.RUNNING)
    # One entry per Rally object found: its type, ids, name, Rally's fields as read (what an
    # import is made from) and, for a story whose feature aharally lacks, that feature's.
    results = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    has_more = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"search {self.text!r} in {self.integration_id}"


class Comparison(models.Model):
    """A Compare with Rally run: every linked record read from Rally and held against ours."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="comparisons"
    )
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.RUNNING)
    message = models.TextField(blank=True)
    # What it cost: requests to Rally and objects read.
    requests = models.PositiveIntegerField(default=0)
    objects_read = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"comparison {self.pk} of {self.integration_id}"

    @property
    def finished_ago(self) -> str:

        return ago(self.finished_at) if self.finished_at else ""


class DifferenceKind(models.TextChoices):
    FIELD = "field", "Differs"
    BROKEN = "broken", "Not found in Rally"
    UNIMPORTED = "unimported", "Not imported"


class Difference(models.Model):
    """One line of a comparison: a field that differs, a broken link, or a Rally record
    under a linked parent that aharally lacks."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="differences")
    kind = models.CharField(max_length=12, choices=DifferenceKind.choices)
    link = models.ForeignKey(
        Link, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField(null=True, blank=True)
    field = models.CharField(max_length=40, blank=True)
    # Normalised (sync.mapping) as the pull normalises: aharally's, Rally's, last agreed.
    ours = models.JSONField(null=True, blank=True)
    theirs = models.JSONField(null=True, blank=True)
    baseline = models.JSONField(null=True, blank=True)
    rally_type = models.CharField(max_length=100, blank=True)
    rally_oid = models.BigIntegerField(null=True, blank=True)
    formatted_id = models.CharField(max_length=40, blank=True)
    name = models.CharField(max_length=255, blank=True)
    # Rally's fields as read (an unimported record is imported from them).
    snapshot = models.JSONField(default=dict, blank=True)
    resolution = models.CharField(max_length=20, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.formatted_id} {self.field}"
