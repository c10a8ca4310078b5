"""A stored status mapping of one record mapping; matching.py holds the logic.

The record mapping is named by its label, not imported: integrations builds on statusmap.
"""

from __future__ import annotations

from django.db import models

from aharally.statusmap.matching import Plan
from aharally.workspaces.models import WorkflowStatus


class StatusMap(models.Model):
    record_mapping = models.OneToOneField(
        "integrations.RecordMapping", on_delete=models.CASCADE, related_name="status_map"
    )
    # ScheduleState (stories), State (portfolio items, as State objects), …
    rally_field = models.CharField(max_length=60, default="State")
    # Rally's states in Rally's order, as last read from Rally.
    rally_states = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Status map of {self.record_mapping}"

    def plan(self) -> Plan:
        return Plan(
            incoming={e.rally_state: str(e.status_id) for e in self.incoming.all()},
            outgoing={str(s.status_id): s.rally_state for s in self.outgoing.all()},
        )


class IncomingState(models.Model):
    """A Rally state and the one aharally status it becomes."""

    status_map = models.ForeignKey(StatusMap, on_delete=models.CASCADE, related_name="incoming")
    rally_state = models.CharField(max_length=100)
    status = models.ForeignKey(WorkflowStatus, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status_map", "rally_state"], name="one_status_per_rally_state"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rally_state} → {self.status}"


class OutgoingState(models.Model):
    """An aharally status and the one Rally state it sends."""

    status_map = models.ForeignKey(StatusMap, on_delete=models.CASCADE, related_name="outgoing")
    status = models.ForeignKey(WorkflowStatus, on_delete=models.CASCADE, related_name="+")
    rally_state = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["status_map", "status"], name="one_state_per_status")
        ]

    def __str__(self) -> str:
        return f"{self.status} → {self.rally_state}"
