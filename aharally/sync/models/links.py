"""Links: one aharally record ↔ one Rally object, through one integration, and its conflicts.

DESIGN.md "The sync" rule 1: a `Link` is unique on both sides (per integration and per
Rally); a `Conflict` is a field changed on both sides since they last agreed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aharally.integrations.models import Integration
from aharally.rally import objects
from aharally.workspaces.models import RecordType


class LinkState(models.TextChoices):
    OK = "ok", "Linked"
    BROKEN = "broken", "Broken"


class Link(models.Model):
    """One aharally record ↔ one Rally object, through one integration."""

    # No index of its own: `one_link_per_record` (integration, record type, record) leads
    # with it, and every link a send makes would write both.
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="links", db_index=False
    )
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
    # For an object a send of ours made, when that send first tried: Rally's object is no
    # older (give or take the clocks' skew), so nothing on it is either, and the catch-up
    # finds its posts and files by their CreationDate rather than asking by artifact. Empty
    # for an object found in Rally (imported, or linked to an existing one): it may be old.
    created_by_send_at = models.DateTimeField(null=True, blank=True)
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
        return f"{self.record_type} {self.record_id} ↔ {self.label}"

    @property
    def label(self) -> str:
        """How messages and pages name the Rally object: its FormattedID, or for a type that
        has none (a release) its type and ObjectID, which Rally's own address shows."""
        return objects.label(self.formatted_id, self.rally_type, self.rally_oid)

    @property
    def percent_done(self) -> int | None:
        """Percent done by story count, as Rally computes it (None until it was read)."""
        value = self.progress.get("count")
        return None if value is None else round(100 * float(value))


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
