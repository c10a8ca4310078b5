"""Owners' reconciling runs: searches of the Rally project and Compare with Rally."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aharally.integrations.models import Integration
from aharally.records.history import ago
from aharally.sync.models.links import Link
from aharally.workspaces.models import RecordType


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
