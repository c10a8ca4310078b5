"""Who is who between aharally and Rally: the Rally users of an integration's subscription
and, for each, the member they are here.

The map belongs to the integration's source (its template, or itself): every integration of a
template group uses one map. A pair made by e-mail is not stored — it is whoever has the same
address, worked out when the map is used, so a member who joins later is matched at once —
only an owner's decisions are: a pair by hand, or "nobody".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aharally.integrations.models import Integration


class PersonDecision(models.TextChoices):
    PAIRED = "paired", "Paired by hand"
    NOBODY = "nobody", "Nobody here"


class RallyPerson(models.Model):
    """A Rally user as the cluster last read them, and an owner's decision about them."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="rally_people"
    )
    rally_oid = models.BigIntegerField("Rally ObjectID")
    user_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    display_name = models.CharField(max_length=255, blank=True)
    # Not in Rally's last answer (disabled, or removed from the subscription): never sent to.
    gone = models.BooleanField(default=False)
    decision = models.CharField(max_length=10, choices=PersonDecision.choices, blank=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["display_name", "email", "rally_oid"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "rally_oid"], name="one_row_per_rally_user"
            ),
            models.CheckConstraint(
                condition=Q(decision="paired", member__isnull=False) | ~Q(decision="paired"),
                name="a_pair_names_a_member",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.email or str(self.rally_oid)


class PeopleDirectory(models.Model):
    """The state of reading an integration's Rally users (one per map's owner integration)."""

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, primary_key=True, related_name="people_directory"
    )
    reading_since = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    problem = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Rally users of {self.integration_id}"


class UnmatchedNotice(models.Model):
    """A member without a Rally user was named in the integration log on this day: once."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "email", "day"], name="one_unmatched_notice_a_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} on {self.day}"


class PreparedPair(models.Model):
    """A pair made before the Rally's users are read (the seeded demo's): applied, as if made
    by hand, to every map of that Rally whose users include the address."""

    rally_site = models.CharField(max_length=200)
    rally_email = models.CharField(max_length=254)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rally_site", "rally_email"], name="one_prepared_pair_per_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rally_email} at {self.rally_site}"
