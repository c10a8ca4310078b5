"""What settles a field changed on both sides since they last agreed, per two-way field mapping.

Kept beside the field mapping rather than on it: the field mapping is named by its label, not
imported (integrations builds on this app, as on statusmap). No row means *Ask a reviewer*.
"""

from __future__ import annotations

from django.db import models


class Policy(models.TextChoices):
    ASK = "ask", "Ask a reviewer"
    AHARALLY = "aharally", "aharally wins"
    RALLY = "rally", "Rally wins"
    RECENT = "recent", "Most recent change wins"


class ConflictPolicy(models.Model):
    field_mapping = models.OneToOneField(
        "integrations.FieldMapping", on_delete=models.CASCADE, related_name="conflict_policy_row"
    )
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.ASK)

    def __str__(self) -> str:
        return f"{self.policy} for field mapping {self.field_mapping_id}"


def policy_of(field_mapping) -> str:
    """The field mapping's policy (read with it: `select_related("conflict_policy_row")`)."""
    try:
        return field_mapping.conflict_policy_row.policy
    except ConflictPolicy.DoesNotExist:
        return Policy.ASK


def set_policy(*, field_mapping, policy: str) -> None:
    """Store the policy; *Ask a reviewer* is the absence of a row."""
    if policy not in Policy.values:
        raise ValueError(f"Unknown conflict policy {policy!r}.")
    if policy == Policy.ASK:
        ConflictPolicy.objects.filter(field_mapping=field_mapping).delete()
    else:
        ConflictPolicy.objects.update_or_create(
            field_mapping=field_mapping, defaults={"policy": policy}
        )
    # The object may be reused by the caller: forget what it had read.
    field_mapping._state.fields_cache.pop("conflict_policy_row", None)
