"""The rules of comments and attachments: who may write, edit and delete them, and the line
each change leaves in its record's history (RecordChange, as field edits do)."""

from __future__ import annotations

import mimetypes
import posixpath

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.html import linebreaks

from aharally.discussion import hooks
from aharally.discussion.models import Attachment, Comment
from aharally.discussion.sizes import file_size
from aharally.records.models import RecordChange
from aharally.records.richtext import html_to_text, sanitize_html
from aharally.workspaces.models import Capability

# The history's field names (records.history labels them "Comments" and "Attachments").
COMMENTS = "comments"
ATTACHMENTS = "attachments"


class DiscussionError(Exception):
    """A refusal to show the person: the text says why."""


def _history(record, *, field: str, old: str, new: str, user, source: str) -> None:
    RecordChange.objects.create(
        workspace_id=record.workspace_id,
        content_type_id=_content_type_id(record),
        object_id=record.pk,
        field=field,
        old_value=old,
        new_value=new,
        changed_by=user,
        source=source,
    )


def _content_type_id(record) -> int:
    from django.contrib.contenttypes.models import ContentType

    # Cached by Django after the first look-up: no query per call.
    return ContentType.objects.get_for_model(record).pk


def clean_body(body: str) -> str:
    """Sanitised rich text; plain text (no tag at all) keeps its paragraphs and line breaks."""
    if "<" not in (body or ""):
        body = linebreaks(body or "")
    body = sanitize_html(body)
    if not html_to_text(body) and "<img" not in body:
        raise DiscussionError("A comment needs some text.")
    if len(body) > settings.RICH_TEXT_MAX_LENGTH:
        raise DiscussionError(
            f"A comment can be at most {settings.RICH_TEXT_MAX_LENGTH:,} characters long."
        )
    return body


def comments_of(record):
    return Comment.objects.filter(record_type=record.record_type, record_id=record.pk)


def attachments_of(record):
    return Attachment.objects.filter(record_type=record.record_type, record_id=record.pk)


@transaction.atomic
def create_comment(*, record, body: str, user=None, author_name: str = "", source: str = ""):
    body = clean_body(body)
    comment = Comment.objects.create(
        workspace_id=record.workspace_id,
        record_type=record.record_type,
        record_id=record.pk,
        author=user,
        author_name=author_name,
        body=body,
        source=source,
    )
    _history(record, field=COMMENTS, old="", new=html_to_text(body), user=user, source=source)
    hooks.item_added(kind="comment", item=comment, record=record, source=source)
    return comment


def can_edit_comment(comment: Comment, *, membership) -> bool:
    """Its author edits it, while still allowed to write in the workspace."""
    return (
        comment.author_id is not None
        and comment.author_id == membership.user_id
        and membership.can(Capability.EDIT_RECORDS)
    )


def can_delete_comment(comment: Comment, *, membership) -> bool:
    """Its author deletes it; owners (who configure the workspace) delete any."""
    return can_edit_comment(comment, membership=membership) or membership.can(Capability.CONFIGURE)


@transaction.atomic
def edit_comment(*, comment: Comment, record, body: str, membership) -> Comment:
    if not can_edit_comment(comment, membership=membership):
        raise DiscussionError("Only its author can edit a comment.")
    return replace_comment_body(comment=comment, record=record, body=body, user=membership.user)


@transaction.atomic
def replace_comment_body(
    *, comment: Comment, record, body: str, user=None, source: str = ""
) -> Comment:
    """The comment's new text, with its history line; `source` names who changed it when no
    person here did (the sync, for a post edited in Rally: nothing is sent back)."""
    body = clean_body(body)
    if body == comment.body:
        return comment
    old = comment.body
    comment.body = body
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "edited_at"])
    _history(
        record, field=COMMENTS, old=html_to_text(old), new=html_to_text(body), user=user,
        source=source,
    )  # fmt: skip
    hooks.item_changed(
        change="edited", kind="comment", item=comment, item_id=comment.pk, record=record,
        source=source, user=user,
    )  # fmt: skip
    return comment


@transaction.atomic
def delete_comment(*, comment: Comment, record, membership) -> None:
    if not can_delete_comment(comment, membership=membership):
        raise DiscussionError("Only its author or an owner can delete a comment.")
    remove_comment(comment=comment, record=record, user=membership.user)


@transaction.atomic
def remove_comment(*, comment: Comment, record, user=None, source: str = "") -> None:
    """The comment gone, with its history line (`source` as in replace_comment_body)."""
    text, item_id = html_to_text(comment.body), comment.pk
    comment.delete()
    _history(record, field=COMMENTS, old=text, new="", user=user, source=source)
    hooks.item_changed(
        change="deleted", kind="comment", item=comment, item_id=item_id, record=record,
        source=source, user=user,
    )  # fmt: skip


def max_upload_bytes() -> int:
    return settings.ATTACHMENT_MAX_BYTES


def too_big_message(size: int) -> str:
    limit = max_upload_bytes()
    return (
        f"The file is {size:,} bytes ({file_size(size)}): the limit is "
        f"{limit:,} bytes ({file_size(limit)})."
    )


def clean_name(name: str) -> str:
    """The file's own name, without any folder a browser or a client sent along."""
    name = posixpath.basename((name or "").replace("\\", "/")).strip()
    return name[:255] or "file"


def guess_type(name: str, declared: str = "") -> str:
    """The type the name says (what the browser declared when the name says nothing)."""
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or declared or "application/octet-stream"


def add_attachment(
    *, record, upload, user=None, uploaded_by_name: str = "", source: str = ""
) -> Attachment:
    """Store `upload` (a Django File) through the default storage and list it on the record."""
    if upload is None:
        raise DiscussionError("Choose a file to attach.")
    if upload.size > max_upload_bytes():
        raise DiscussionError(too_big_message(upload.size))
    name = clean_name(getattr(upload, "name", ""))
    attachment = Attachment(
        workspace_id=record.workspace_id,
        record_type=record.record_type,
        record_id=record.pk,
        name=name,
        size=upload.size,
        mime_type=guess_type(name, getattr(upload, "content_type", "") or ""),
        uploaded_by=user,
        uploaded_by_name=uploaded_by_name,
        source=source,
    )
    # The file first, through the storage, then the row and its history line: a failed write
    # leaves no row, and a row that fails to commit takes its file away again.
    attachment.file.save(name, upload, save=False)
    try:
        with transaction.atomic():
            attachment.save()
            _history(record, field=ATTACHMENTS, old="", new=name, user=user, source=source)
            hooks.item_added(kind="attachment", item=attachment, record=record, source=source)
    except Exception:
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


def can_delete_attachment(attachment: Attachment, *, membership) -> bool:
    own = attachment.uploaded_by_id is not None and attachment.uploaded_by_id == membership.user_id
    return (own and membership.can(Capability.EDIT_RECORDS)) or membership.can(Capability.CONFIGURE)


def delete_attachment(*, attachment: Attachment, record, membership) -> None:
    if not can_delete_attachment(attachment, membership=membership):
        raise DiscussionError("Only who attached it or an owner can delete an attachment.")
    remove_attachment(attachment=attachment, record=record, user=membership.user)


def remove_attachment(*, attachment: Attachment, record, user=None, source: str = "") -> None:
    """The attachment and its file gone, with its history line (`source` as above)."""
    stored, storage, item_id = attachment.file.name, attachment.file.storage, attachment.pk
    with transaction.atomic():
        attachment.delete()
        _history(record, field=ATTACHMENTS, old=attachment.name, new="", user=user, source=source)
        hooks.item_changed(
            change="deleted", kind="attachment", item=attachment, item_id=item_id,
            record=record, source=source, user=user,
        )  # fmt: skip
        # The file goes once the row is surely gone (a rolled-back delete keeps both).
        transaction.on_commit(lambda: storage.delete(stored))


def forget_record(sender, instance, **kwargs) -> None:
    """A record deleted: its comments and attachments (and their files) with it."""
    comments_of(instance).delete()
    attachments = list(attachments_of(instance))
    for attachment in attachments:
        stored, storage = attachment.file.name, attachment.file.storage
        transaction.on_commit(lambda s=storage, n=stored: s.delete(n))
    attachments_of(instance).delete()
