"""Comments and attachments paired with Rally's ConversationPosts and Attachments.

One row per (Rally, comment or attachment) ↔ one Rally object, whichever side made it: the
outbox writes it when its create is answered (or its lost answer found), the catch-up when it
brings a post or a file here. Unique on both sides per Rally (`rally_site`, as `Link`), so a
retry, an echo coming back or a second integration of a template group never makes a second
copy on either side.
"""

from __future__ import annotations

from django.db import models

from aharally.integrations.models import Integration


class ItemKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    ATTACHMENT = "attachment", "Attachment"


class ItemOrigin(models.TextChoices):
    AHARALLY = "aharally", "Sent from aharally"
    RALLY = "rally", "Brought from Rally"


class DiscussionPair(models.Model):
    """One comment (or attachment) of ours ↔ one Rally ConversationPost (or Attachment)."""

    rally_site = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ItemKind.choices)
    # discussion.Comment or discussion.Attachment's id (kept when it is deleted here: the
    # Rally object is still paired and must not come back as new).
    item_id = models.PositiveBigIntegerField()
    rally_oid = models.BigIntegerField("Rally ObjectID")
    # The artifact it is on, for the drawer's "in Rally" line and a look in Rally.
    artifact_oid = models.BigIntegerField(null=True, blank=True)
    integration = models.ForeignKey(
        Integration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    origin = models.CharField(max_length=10, choices=ItemOrigin.choices)
    # A post's Text as both sides last agreed it (normalised HTML): what we sent, or what we
    # brought. A post whose Text differs from it was edited in Rally; an edit here whose text
    # equals it sends nothing.
    rally_text = models.TextField(blank=True)
    # When either side deleted it (the other side's copy deleted, or found gone). The pair is
    # kept: the Rally object, or a late read of it, must never come back as new.
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rally_site", "kind", "item_id"], name="one_rally_object_per_item"
            ),
            models.UniqueConstraint(
                fields=["rally_site", "rally_oid"], name="one_item_per_rally_object"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id} ↔ {self.rally_oid}"
