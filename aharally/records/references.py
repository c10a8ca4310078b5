"""Reference numbers: unique, never reused, safe under concurrent creation."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from aharally.workspaces.models import Workspace

_COUNTERS = {
    "feature": ("next_feature_number", "{prefix}-{n}"),
    "epic": ("next_epic_number", "{prefix}-E-{n}"),
    "initiative": ("next_initiative_number", "{prefix}-I-{n}"),
    "release": ("next_release_number", "{prefix}-R-{n}"),
}


def take_number(*, workspace: Workspace, record_type: str) -> tuple[int, str]:
    """Reserve the next number for a record type; returns (number, reference).

    The increment is one UPDATE, which the database serialises, so two concurrent
    creations never get the same number. Call inside the creating transaction.
    """
    field, pattern = _COUNTERS[record_type]
    with transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk).update(**{field: F(field) + 1})
        number = Workspace.objects.values_list(field, flat=True).get(pk=workspace.pk) - 1
    return number, pattern.format(prefix=workspace.prefix, n=number)


def take_requirement_number(*, feature) -> tuple[int, str]:
    from aharally.records.models import Feature

    with transaction.atomic():
        Feature.objects.filter(pk=feature.pk).update(
            next_requirement_number=F("next_requirement_number") + 1
        )
        number = (
            Feature.objects.values_list("next_requirement_number", flat=True).get(pk=feature.pk) - 1
        )
    return number, f"{feature.reference}-{number}"
