"""ConversationPost, Attachment and AttachmentContent: the rules save_object applies to them,
and the webhooks their artifact fires.

Rally's documented shape (WSAPI.md §4.7, §4.8): a post's PostNumber counts its artifact's posts
and its User is the caller unless given; an attachment is two creates, its bytes as base64
`AttachmentContent.Content`, then the `Attachment` with Name, Content, ContentType and the raw
Size. Files are capped at 50,000,000 bytes (pyral's constant, "to match Agile Central limit").
Not confirmed in any source, and chosen here: the wording of the over-the-limit error; that a
post's Text may be updated and a post or an attachment deleted through WSAPI, as Rally's UI
lets its users edit and delete their posts and delete attachments; that a new, edited or
deleted post or attachment fires an "Updated" delivery of its artifact whose changes name the
Discussion or Attachments collection (the artifact's VersionId does not change).
"""

from __future__ import annotations

import base64
import binascii

from rally_sandbox.accounts.models import allocate

from .models import Attachment, AttachmentContent, ConversationPost

MAX_ATTACHMENT_BYTES = 50_000_000
DISCUSSION_TYPES = (ConversationPost, Attachment, AttachmentContent)


def too_large(type_name: str, size: int) -> str:
    return (
        f"Validation error: {type_name} is too large: {size} bytes; the largest attachment "
        f"Rally accepts is {MAX_ATTACHMENT_BYTES} bytes"
    )


def defaults(obj, user) -> None:
    """On create: who wrote or attached it, unless the request said."""
    if isinstance(obj, ConversationPost | Attachment) and obj.user_id is None:
        obj.user = user


def decoded_size(content: str) -> int | None:
    """The byte count of base64 `content`, or None when it is not base64."""
    try:
        return len(base64.b64decode(content or "", validate=True))
    except (binascii.Error, ValueError):
        return None


def rules(obj, errors: list[str]) -> None:
    """Rally's refusals for these types, appended to `errors`."""
    if isinstance(obj, AttachmentContent):
        size = decoded_size(obj.content)
        if size is None:
            errors.append(
                "Could not convert: AttachmentContent.Content must be base64-encoded bytes"
            )
        elif size > MAX_ATTACHMENT_BYTES:
            errors.append(too_large("AttachmentContent", size))
    elif isinstance(obj, Attachment):
        if obj.size is not None and obj.size < 0:
            errors.append("Validation error: Attachment.Size cannot be negative")
        elif obj.size is not None and obj.size > MAX_ATTACHMENT_BYTES:
            errors.append(too_large("Attachment", obj.size))
    elif isinstance(obj, ConversationPost) and not (obj.text or "").strip():
        errors.append("Validation error: ConversationPost.Text should not be null")


def number(obj) -> None:
    """On create, inside the saving transaction: the post's number on its artifact (1, 2, …)."""
    if isinstance(obj, ConversationPost):
        obj.post_number = allocate(f"post:{obj.artifact_id}")[0]


def content_bytes(content: AttachmentContent) -> bytes:
    return base64.b64decode(content.content or "")


COLLECTIONS = {ConversationPost: "Discussion", Attachment: "Attachments"}


def announce(obj, *, action: str, user) -> None:
    """A post or attachment created, updated or deleted: its artifact's webhooks hear of it as
    an update of the collection, the member added or removed (an edit: the collection)."""
    from .changes import CHANGE_BASE_URL, notify_artifact_changed, pigeon_available
    from .render import render_full

    collection = COLLECTIONS.get(type(obj))
    if collection is None or obj.artifact_id is None or not pigeon_available():
        return
    rendered = render_full(obj, base_url=CHANGE_BASE_URL)
    ref = {key: rendered[key] for key in ("_ref", "_refObjectUUID", "_refObjectName", "_type")}
    change = {"Created": ([], [ref]), "Updated": ([ref], [ref])}.get(action, ([ref], []))
    notify_artifact_changed(
        action="Updated", artifact=obj.artifact, changes={collection: change}, actor=user
    )
