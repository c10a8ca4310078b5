"""Per-integration leases (one drain, one catch-up at a time): taken, kept, given back.

A lease row (`DrainLease`, `PullCursor`) has `holder` and `expires_at`. Taking it is one
conditional UPDATE, so of two processes racing for it exactly one wins, on PostgreSQL (the
loser's UPDATE waits for the winner's row lock, then finds the row no longer free) and on
SQLite (writers are serialised). A lease not renewed in time is free again: its worker died.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Model, Q
from django.utils import timezone


class Lease:
    """One holder's claim on an integration's lease row of `model`."""

    def __init__(self, model: type[Model], integration_id: int) -> None:
        self.model = model
        self.integration_id = integration_id
        self.holder = uuid.uuid4().hex
        self._renewed = 0.0

    def _expires(self):
        return timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)

    def take(self) -> bool:
        """Take the lease; False when another live holder has it."""
        self.model.objects.get_or_create(integration_id=self.integration_id)
        free = Q(holder="") | Q(expires_at__lt=timezone.now()) | Q(holder=self.holder)
        taken = self.model.objects.filter(free, integration_id=self.integration_id).update(
            holder=self.holder, expires_at=self._expires()
        )
        self._renewed = time.monotonic()
        return bool(taken)

    def keep(self) -> bool:
        """Renew the lease when a third of it has passed (one UPDATE then, none otherwise);
        False when it was taken over (this holder stalled past its expiry): stop working."""
        if time.monotonic() - self._renewed < settings.SYNC_LEASE_SECONDS / 3:
            return True
        kept = self.model.objects.filter(
            integration_id=self.integration_id, holder=self.holder
        ).update(expires_at=self._expires())
        self._renewed = time.monotonic()
        return bool(kept)

    def give_back(self) -> None:
        """Free the lease if this holder still has it (a lease taken over is left alone)."""
        self.model.objects.filter(integration_id=self.integration_id, holder=self.holder).update(
            holder="", expires_at=None
        )
