"""Which task clusters are alive: each `manage.py qcluster` beats here while it runs.

Timestamps come from the database's clock (`Now()`), written and compared there, so clusters
on machines whose clocks disagree still read the same (docs/operations.md, "Readiness").
"""

from __future__ import annotations

from django.db import models


class ClusterHeartbeat(models.Model):
    """One running task cluster: removed when it stops, stale when it was killed."""

    cluster = models.CharField(max_length=120, unique=True)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)
    # The last moment it took a task, or none waited, or all its workers were busy (its
    # watchdog's view); beat_at minus this is how long it has been stuck.
    progress_at = models.DateTimeField(null=True)
    waiting = models.PositiveIntegerField(default=0)  # tasks in the queue it saw untaken

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"cluster {self.cluster} (last beat {self.beat_at:%H:%M:%S})"


class IncomingLag(models.Model):
    """How long a change made in Rally took to be applied here (the catch-up tells ops which
    objects it changed and Rally's change time). The other direction needs no row: an outbox
    row's `created_at` and `finished_at` say it."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    seconds = models.FloatField()
    applied_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-applied_at"]
        indexes = [models.Index(fields=["integration", "applied_at"], name="ops_lag_recent")]

    def __str__(self) -> str:
        return f"{self.seconds:.0f} s to apply, for {self.integration_id}"
