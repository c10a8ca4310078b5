"""The thread's word on each comment and attachment of a linked record: in Rally, waiting,
or not sent and why (discussion.hooks' item notes), in three queries whatever their number."""

from __future__ import annotations

from django.db.models import Q

from aharally.discussion.models import Attachment, Comment
from aharally.sync.models import (
    DISCUSSION_CREATES,
    DiscussionPair,
    ItemKind,
    ItemOrigin,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)

OK, WAITING, ERROR, QUIET = "ok", "waiting", "error", "quiet"


def _items(record):
    on = {"record_type": record.record_type, "record_id": record.pk}
    return (
        Comment.objects.filter(**on).values("pk"),
        Attachment.objects.filter(**on).values("pk"),
    )


def item_notes(*, record, comments, attachments) -> dict:
    linked = list(
        Link.objects.filter(
            record_type=record.record_type, record_id=record.pk, state=LinkState.OK
        ).values_list("formatted_id", flat=True)
    )
    comment_ids, attachment_ids = _items(record)
    pairs = {
        (pair.kind, pair.item_id): pair
        for pair in DiscussionPair.objects.filter(
            Q(kind=ItemKind.COMMENT, item_id__in=comment_ids)
            | Q(kind=ItemKind.ATTACHMENT, item_id__in=attachment_ids)
        )
    }
    rows, changes = {}, {}
    for row in OutboxItem.objects.filter(
        Q(record_type=ItemKind.COMMENT, record_id__in=comment_ids)
        | Q(record_type=ItemKind.ATTACHMENT, record_id__in=attachment_ids)
    ).order_by("id"):
        # The create's row says where the item stands; an edit's, the last edit's fate.
        into = rows if row.kind in DISCUSSION_CREATES else changes
        into[(row.record_type, row.record_id)] = row
    where = f" ({linked[0]})" if len(linked) == 1 and linked[0] else ""
    notes = {}
    for kind, items in ((ItemKind.COMMENT, comments), (ItemKind.ATTACHMENT, attachments)):
        for item in items:
            note = _note(pairs.get((kind, item.pk)), rows.get((kind, item.pk)), where, linked)
            change = _change_note(changes.get((kind, item.pk)))
            if change is not None:
                note = change
            if note is not None:
                notes[(kind, item.pk)] = note
    return notes


def _note(pair, row, where: str, linked: list) -> tuple[str, str] | None:
    if pair is not None:
        if pair.origin == ItemOrigin.RALLY:
            return f"From Rally{where}", OK
        return f"In Rally{where}", OK
    if row is None:
        # Added before the record was linked, or while this way was off: it stays here.
        return ("Stays in aharally: not sent to Rally", QUIET) if linked else None
    if row.state == OutboxState.AWAITING_APPROVAL:
        return "Waiting for approval to go to Rally", WAITING
    if row.state in (OutboxState.QUEUED, OutboxState.IN_FLIGHT):
        if row.error_message:
            return f"Going to Rally (retrying: {row.error_message})", WAITING
        return "Going to Rally", WAITING
    if row.state == OutboxState.FAILED:
        return f"Not sent to Rally: {row.error_message}", ERROR
    if row.state == OutboxState.REJECTED:
        return "Not sent to Rally: a reviewer rejected it", QUIET
    return f"In Rally{where}", OK


def _change_note(row) -> tuple[str, str] | None:
    """An edit's row still under way or refused (one sent says nothing more)."""
    if row is None or row.kind != OutboxKind.EDIT:
        return None
    if row.state == OutboxState.AWAITING_APPROVAL:
        return "Edit waiting for approval to go to Rally", WAITING
    if row.state in (OutboxState.QUEUED, OutboxState.IN_FLIGHT):
        return "Edit going to Rally", WAITING
    if row.state == OutboxState.FAILED:
        return f"Edit not sent to Rally: {row.error_message}", ERROR
    if row.state == OutboxState.REJECTED:
        return "Edit not sent to Rally: a reviewer rejected it", QUIET
    return None


def edit_note(*, record) -> str:
    """What editing or deleting here does in Rally (sync/outgoing/discussion_changes.py), as
    the record mapping's *Comments* line has it."""
    from aharally.integrations.templates_service import effective_config
    from aharally.sync import mapping

    link = (
        Link.objects.filter(record_type=record.record_type, record_id=record.pk, state=LinkState.OK)
        .select_related("integration__template")
        .first()
    )
    if link is None:
        return ""
    record_mapping = effective_config(link.integration).mapping_for(record.record_type)
    goes = mapping.discussion_goes_to_rally(record_mapping, "comments")
    comes = mapping.discussion_comes_here(record_mapping, "comments")
    if goes and comes:
        return (
            "New comments and files go to Rally. Editing a comment here updates its post "
            "there, deleting a comment or a file deletes it there too, and Rally's edits and "
            "deletions come here."
        )
    if goes:
        return (
            "New comments and files go to Rally. Editing a comment here updates its post "
            "there, deleting a comment or a file deletes it there too."
        )
    if comes:
        return "Comments stay here; Rally's posts, and their edits and deletions, come here."
    return "Comments stay here: none go to Rally or come from it."
