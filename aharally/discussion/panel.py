"""The comments and attachments section of a record's drawer or page, and the board cards'
comment counts: each in a fixed number of queries, whatever the number of comments or cards."""

from __future__ import annotations

from html import escape

from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse

from aharally.discussion import hooks
from aharally.discussion.forms import AttachmentForm, CommentForm
from aharally.discussion.models import Comment
from aharally.discussion.services import (
    attachments_of,
    can_delete_attachment,
    can_delete_comment,
    can_edit_comment,
    comments_of,
    max_upload_bytes,
)
from aharally.workspaces.models import Capability, RecordType

# Served inline (as a thumbnail) when asked: images a browser shows and never runs. SVG is
# not one of them (it can carry script).
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _person(user, fallback: str) -> str:
    if user is not None:
        return user.get_full_name() or user.email or user.get_username()
    return fallback or "someone no longer here"


def base_url(record) -> str:
    return reverse(
        "discussion:panel",
        kwargs={
            "prefix": record.workspace.prefix,
            "record_type": record.record_type,
            "reference": record.reference,
        },
    )


def panel_context(request, record, *, comment_form=None, attachment_form=None, error=""):
    """Two queries: the comments with their authors, the attachments with their uploaders."""
    membership = request.membership
    base = base_url(record)
    comments = list(comments_of(record).select_related("author"))
    attachments = list(attachments_of(record).select_related("uploaded_by"))
    for comment in comments:
        comment.who = _person(comment.author, comment.author_name)
        comment.can_edit = can_edit_comment(comment, membership=membership)
        comment.can_delete = can_delete_comment(comment, membership=membership)
        comment.url = f"{base}comments/{comment.pk}/"
    for attachment in attachments:
        attachment.who = _person(attachment.uploaded_by, attachment.uploaded_by_name)
        attachment.can_delete = can_delete_attachment(attachment, membership=membership)
        attachment.url = f"{base}attachments/{attachment.pk}/"
        attachment.previewable = attachment.mime_type in PREVIEWABLE
    # Where each stands in Rally, when the sync is there to say (discussion.hooks).
    notes = hooks.item_notes(record=record, comments=comments, attachments=attachments)
    for comment in comments:
        comment.elsewhere = notes.get(("comment", comment.pk))
    for attachment in attachments:
        attachment.elsewhere = notes.get(("attachment", attachment.pk))
    can_write = membership.can(Capability.EDIT_RECORDS)
    return {
        "edit_note": hooks.edit_note(record=record),
        "record": record,
        "base_url": base,
        "comments": comments,
        "attachments": attachments,
        "can_write": can_write,
        "comment_form": comment_form or (CommentForm() if can_write else None),
        "attachment_form": attachment_form or (AttachmentForm() if can_write else None),
        "max_upload_bytes": max_upload_bytes(),
        "error": error,
        "dom_id": f"discussion-{record.record_type}-{record.pk}",
    }


def record_panel(*, request, record) -> str:
    """records.hooks' panel: the thread and the files, rendered into the drawer or page."""
    if getattr(request, "membership", None) is None:
        return ""
    return render_to_string(
        "discussion/partials/panel.html", panel_context(request, record), request=request
    )


# Drawn, not a character: emoji fonts are not everywhere (a missing glyph shows as a box).
BUBBLE = (
    '<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">'
    '<path d="M2 2.5h12v8.5H7l-4 3v-3H2z" fill="none" stroke="currentColor" '
    'stroke-width="1.4" stroke-linejoin="round"/></svg>'
)


def comment_counts(*, workspace, feature_ids) -> dict[int, str]:
    """records.hooks' card decoration: a speech bubble and the count, on commented cards.

    One query for the board, by workspace rather than by a list of ids (a board may hold
    thousands of cards, past what a database takes as query parameters)."""
    wanted = set(feature_ids)
    rows = (
        Comment.objects.filter(workspace=workspace, record_type=RecordType.FEATURE)
        .values("record_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict[int, str] = {}
    for row in rows:
        if row["record_id"] in wanted:
            n = row["n"]
            label = escape(f"{n} comment{'s' if n != 1 else ''}")
            found[row["record_id"]] = (
                f'<span class="card-comments" title="{label}" aria-label="{label}">'
                f"{BUBBLE}{n}</span>"
            )
    return found
