"""One row per slot of a shared cap: free (`holder` empty), or leased until `expires`."""

from __future__ import annotations

from django.db import models


class Slot(models.Model):
    """Slot `number` of the cap named `key`; a holder renews its lease while it works.

    `expires` is in seconds since the epoch by the database's own clock, so machines whose
    clocks differ agree on when a dead holder's lease is over.
    """

    key = models.CharField(max_length=64)
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=64, blank=True, default="")
    expires = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "number"], name="one_row_per_slot"),
        ]
        indexes = [models.Index(fields=["holder"], name="slot_holder")]

    def __str__(self) -> str:
        return f"slot {self.number} of {self.key} ({self.holder or 'free'})"
