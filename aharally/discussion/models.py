"""Comments and attachments on planning records (initiatives, epics, features, requirements,
releases).

Both point at their record as (record_type, record_id), the pair the sync's `Link` uses,
rather than one foreign key per record type or a ContentType: one table serves the five
types, a board's comment counts are one grouped query, the sync can pair a comment with its
record's link on the same two columns, and a sixth record type needs no migration. What a
foreign key would give (deletion with the record) is done by `apps.py`'s post_delete
receivers; `workspace` (a real foreign key) scopes every query and goes with the workspace.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from aharally.workspaces.models import RecordType, Workspace


class Comment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who wrote it when no user of ours did (a Rally user's name, for a post from Rally).
    author_name = models.CharField(max_length=255, blank=True)
    # Rich text, sanitised like descriptions (records.richtext) before it is stored.
    body = models.TextField()
    # Where it came from when not typed here (e.g. "Rally").
    source = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["record_type", "record_id", "created_at"])]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.record_type} {self.record_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    """Where the file is stored: a random name, never the uploader's (no path tricks, no
    guessing); the name people see is `Attachment.name`."""
    return f"attachments/{instance.workspace_id}/{secrets.token_hex(16)}"


class Attachment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    file = models.FileField(upload_to=attachment_path, max_length=255)
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    mime_type = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_by_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["record_type", "record_id", "created_at"])]

    def __str__(self) -> str:
        return self.name
