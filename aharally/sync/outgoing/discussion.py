"""Comments and attachments of linked records, sent to Rally once each.

A comment added to a linked record (or a file attached to it) writes an outbox row in the
same transaction (`on_item_added`, called through `discussion.hooks`): kind *comment* or
*attachment*, `record_type` "comment"/"attachment" and `record_id` the item's id, so a
record's own rows (one open row a record) never meet it, and the item has one row per
integration, ever (`values` name the record it is on). With *Approve outgoing changes* it
waits in Integration updates like any change.

The drain (`push_item`) makes a ConversationPost (the comment's HTML, "alice@example.com
wrote: …" before it when Rally's user is not the author's) or an AttachmentContent and an
Attachment (base64), then pairs the item with Rally's object (`DiscussionPair`, unique on both
sides per Rally). Before the request the row is marked `look_before_send`: when the answer is
lost (or the worker dies) the next attempt first looks on the artifact for a post with the
same text (a file with the same name and size) created since just before the first attempt
and paired with nothing, and adopts it: nothing is sent twice.

What Rally can't take (a file over its 50 MB, or over this server's limit) is refused at once,
never retried: the row fails with the sizes, the record's integration history and the
integration log say so, and the thread shows it beside the file.

Edits and deletions follow (`discussion_changes.py`): an edited comment updates its post's
Text, a deleted comment or attachment deletes its Rally object, through the outbox as well.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape

from aharally.discussion.models import Attachment, Comment
from aharally.discussion.sizes import file_size
from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, LogLevel
from aharally.integrations.templates_service import effective_config
from aharally.rally.discussion import MAX_ATTACHMENT_BYTES
from aharally.rally.query import all_of, where
from aharally.sync import enqueue, history, links, mapping
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    DiscussionPair,
    ErrorKind,
    ItemKind,
    ItemOrigin,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, discussion_changes
from aharally.sync.outgoing.outbox import approval_needed
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.sync.records import SOURCE

logger = logging.getLogger(__name__)

# The mapping line each kind of item follows.
LINE = {ItemKind.COMMENT: "comments", ItemKind.ATTACHMENT: "attachments"}
MODEL = {ItemKind.COMMENT: Comment, ItemKind.ATTACHMENT: Attachment}


# -- queueing, in the transaction that adds the item -------------------------------------------


def on_item_added(*, kind: str, item, record, source: str) -> None:
    if source == SOURCE:
        return  # brought from Rally by the sync: it is there already
    record_links = list(
        Link.objects.filter(
            record_type=record.record_type, record_id=record.pk, state=LinkState.OK
        ).select_related("integration__template")
    )
    for link in record_links:
        integration = link.integration
        record_mapping = effective_config(integration).mapping_for(record.record_type)
        if not mapping.discussion_goes_to_rally(record_mapping, LINE[kind]):
            continue
        _queue(kind=kind, item=item, record=record, link=link, integration=integration)
    linked = {link.integration_id for link in record_links}
    # The record's create under way (its drain may have read which records have comments
    # already): the item waits for the link, then goes (push_item).
    for row in (
        OutboxItem.objects.filter(
            record_type=record.record_type,
            record_id=record.pk,
            kind=OutboxKind.CREATE,
            state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
        )
        .exclude(integration_id__in=linked)
        .select_related("integration__template")
    ):
        integration = row.integration
        record_mapping = effective_config(integration).mapping_for(record.record_type)
        if mapping.discussion_goes_to_rally(record_mapping, LINE[kind]):
            link = Link(record_type=record.record_type, record_id=record.pk, rally_type="")
            _queue(kind=kind, item=item, record=record, link=link, integration=integration)


def queue_existing(*, record, link: Link, integration: Integration, run: DrainRun) -> int:
    """A record just created in Rally: its comments and files from before (written here,
    not brought from another Rally) follow it, a row each, in the link's transaction; one
    already paired on this Rally or with a row of this integration is left as it is.

    Which records have any is read once a drain per workspace (two queries), so a record
    without any costs nothing; one added after that read found the record's create under way
    and was queued then (`on_item_added`)."""
    from aharally.discussion.services import attachments_of, comments_of

    workspace_id = record.workspace_id
    with run.lock:
        having = run.discussion_records.get(workspace_id)
    if having is None:
        having = {
            key
            for model in (Comment, Attachment)
            for key in model.objects.filter(workspace_id=workspace_id)
            .exclude(source=SOURCE)
            .order_by()
            .values_list("record_type", "record_id")
            .distinct()
        }
        with run.lock:
            run.discussion_records[workspace_id] = having
    if (record.record_type, record.pk) not in having:
        return 0
    record_mapping = run.config_for(integration).mapping_for(record.record_type)
    site = links.site_of(integration)
    queued = 0
    for kind, items in ((ItemKind.COMMENT, comments_of), (ItemKind.ATTACHMENT, attachments_of)):
        if not mapping.discussion_goes_to_rally(record_mapping, LINE[kind]):
            continue
        found = list(items(record).exclude(source=SOURCE))
        if not found:
            continue
        ids = [item.pk for item in found]
        done = set(
            DiscussionPair.objects.filter(rally_site=site, kind=kind, item_id__in=ids).values_list(
                "item_id", flat=True
            )
        ) | set(
            OutboxItem.objects.filter(
                integration=integration, record_type=kind, record_id__in=ids
            ).values_list("record_id", flat=True)
        )
        for item in found:
            if item.pk not in done:
                _queue(kind=kind, item=item, record=record, link=link, integration=integration)
                queued += 1
    return queued


def _queue(*, kind, item, record, link: Link, integration: Integration) -> OutboxItem:
    values = {
        "record_type": record.record_type,
        "record_id": record.pk,
        "artifact": link.rally_oid,  # None while the record's create is under way
        "rally_type": link.rally_type,
    }
    user = item.author if kind == ItemKind.COMMENT else item.uploaded_by
    if kind == ItemKind.ATTACHMENT:
        values.update(name=item.name, size=item.size)
    else:
        values["text"] = mapping.normalise_html(item.body)
    state = OutboxState.AWAITING_APPROVAL if approval_needed(integration) else OutboxState.QUEUED
    refusal = too_big(item.size) if kind == ItemKind.ATTACHMENT else ""
    row = OutboxItem.objects.create(
        integration=integration,
        record_type=kind,
        record_id=item.pk,
        kind=kind,
        values=values,
        state=OutboxState.FAILED if refusal else state,
        error_kind=ErrorKind.VALIDATION if refusal else "",
        error_message=refusal,
        created_by=user,
    )
    if refusal:
        history.note(row, ActivityAction.FAILED, f"{item.name} not sent: {refusal}")
        log_event(
            integration,
            LogLevel.WARNING,
            f"{item.name} on {record.reference} not sent to Rally: {refusal}",
        )
    elif state == OutboxState.QUEUED:
        enqueue.drain_on_commit(integration.pk)
    return row


def too_big(size: int) -> str:
    """Why a file can't go to Rally, or "" when it can."""
    limit = min(MAX_ATTACHMENT_BYTES, settings.ATTACHMENT_MAX_BYTES)
    if size <= limit:
        return ""
    return (
        f"the file is {size:,} bytes ({file_size(size)}); Rally takes at most "
        f"{limit:,} bytes ({file_size(limit)})."
    )


# -- sending, in the drain ---------------------------------------------------------------------


def push_item(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    """Send one claimed comment or attachment row; Rally's errors are the caller's to write
    (push.send_row), except those settled here."""
    if row.kind == OutboxKind.EDIT:
        discussion_changes.push_edit(row, run, integration=integration)
        return
    if row.kind == OutboxKind.REMOVE:
        discussion_changes.push_remove(row, run, integration=integration)
        return
    model = MODEL[row.kind]
    item = model.objects.filter(pk=row.record_id).first()
    if item is None and row.look_before_send:
        # Deleted here while this create was under way: what a lost answer made is paired,
        # and the deletion's own row removes it from Rally.
        found = find_lost(row, run, item=None)
        if found is not None:
            _pair(row, run, integration, None, found, adopted=True)
            return
    if item is None:
        attempts.finish(row, sent_values={})
        history.note(row, ActivityAction.SKIPPED, "Deleted here before it was sent.")
        return
    if not row.values.get("artifact") and not _artifact_known(row, integration):
        return
    site = links.site_of(integration)
    paired = DiscussionPair.objects.filter(rally_site=site, kind=row.kind, item_id=item.pk).first()
    if paired is not None:  # sent (or brought) already, through another integration
        attempts.finish(row, sent_values={"rally_oid": paired.rally_oid})
        return
    artifact = f"/{row.values['rally_type'].lower()}/{row.values['artifact']}"
    if row.kind == ItemKind.ATTACHMENT:
        refusal = too_big(item.size)
        if refusal:
            _refuse(row, integration, f"{item.name} not sent: {refusal}")
            return
    if row.look_before_send:
        found = find_lost(row, run, item=item)
        if found is not None:
            _pair(row, run, integration, item, found, adopted=True)
            return
    text = post_text(item, integration, run) if row.kind == ItemKind.COMMENT else ""
    now = timezone.now()
    row.first_attempt_at = row.first_attempt_at or now
    row.attempts += 1
    row.sent_values = {"text": text} if text else {"name": item.name, "size": item.size}
    OutboxItem.objects.filter(pk=row.pk, claim_token=row.claim_token).update(
        first_attempt_at=row.first_attempt_at,
        attempts=row.attempts,
        look_before_send=True,
        sent_values=row.sent_values,
    )
    if row.kind == ItemKind.COMMENT:
        created = run.client.create_post(artifact, text)
    else:
        with item.file.open("rb") as handle:
            data = handle.read()
        created = run.client.attach(
            artifact, name=item.name, data=data, content_type=item.mime_type
        )
    _pair(row, run, integration, item, created, adopted=False)


def _artifact_known(row: OutboxItem, integration: Integration) -> bool:
    """A row queued while its record's create was under way: the link's artifact, once it
    is made; waiting while the create is; finished unsent when it never was."""
    record_type, record_id = row.values.get("record_type"), row.values.get("record_id")
    link = Link.objects.filter(
        integration=integration, record_type=record_type, record_id=record_id, state=LinkState.OK
    ).first()
    if link is not None:
        row.values = {**row.values, "artifact": link.rally_oid, "rally_type": link.rally_type}
        OutboxItem.objects.filter(pk=row.pk).update(values=row.values)
        return True
    if OutboxItem.objects.filter(
        integration=integration,
        record_type=record_type,
        record_id=record_id,
        kind=OutboxKind.CREATE,
        state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
    ).exists():
        raise Deferred(1.0)
    attempts.finish(row, sent_values={})
    history.note(row, ActivityAction.SKIPPED, "Not sent: the record is not in Rally.")
    return False


def post_text(comment: Comment, integration: Integration, run: DrainRun) -> str:
    """The post's HTML: the comment's, named after its author unless Rally's user (the
    credential's, who posts) is theirs — the People map's pair, or the same e-mail."""
    author = comment.author
    email = (author.email if author is not None else "") or comment.author_name
    if not email:
        return comment.body
    poster = (integration.source.rally_user_name or "").strip().lower()
    theirs = {email.strip().lower()}
    people = run.people()
    paired = people.rally_of_member.get(author.pk) if author is not None else None
    if paired is not None:
        person = people.by_oid.get(paired[0])
        theirs = {person.email.strip().lower()} if person is not None and person.email else theirs
    if poster and poster in theirs:
        return comment.body
    return f"<p><b>{escape(email)}</b> wrote:</p>{comment.body}"


def find_lost(row: OutboxItem, run: DrainRun, *, item):
    """What a lost create made on the artifact, when Rally has it and nothing is paired with
    it: a post with the text sent, or a file with the name and size sent."""
    since = (row.first_attempt_at or timezone.now()) - links.SENT_CLOCK_SKEW
    created = where("CreationDate", ">=", since.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    on = where("Artifact.ObjectID", "=", row.values["artifact"])
    sent = row.sent_values or {}
    if row.record_type == ItemKind.COMMENT:
        candidates = list(
            run.client.query(
                "ConversationPost",
                query=all_of(on, created),
                fetch=["ObjectID", "Text", "CreationDate"],
                order="ObjectID",
            )
        )
        wanted = mapping.normalise_html(sent.get("text", ""))
        candidates = [c for c in candidates if mapping.normalise_html(c.get("Text")) == wanted]
    else:
        candidates = list(
            run.client.query(
                "Attachment",
                query=all_of(on, created, where("Name", "=", sent.get("name") or item.name)),
                fetch=["ObjectID", "Name", "Size", "CreationDate"],
                order="ObjectID",
            )
        )
        size = sent.get("size") if "size" in sent or item is None else item.size
        candidates = [c for c in candidates if c.get("Size") == size]
    if not candidates:
        return None
    taken = set(
        DiscussionPair.objects.filter(
            rally_site=run.integration.rally_site,
            rally_oid__in=[c.object_id for c in candidates],
        ).values_list("rally_oid", flat=True)
    )
    return next((c for c in candidates if c.object_id not in taken), None)


def _pair(row: OutboxItem, run: DrainRun, integration, item, created, *, adopted: bool) -> None:
    label = _label(row, item)
    sent = (row.sent_values or {}).get("text", "")
    try:
        with transaction.atomic():
            DiscussionPair.objects.create(
                rally_site=links.site_of(integration),
                kind=row.kind,
                item_id=row.record_id,
                rally_oid=created.object_id,
                artifact_oid=row.values.get("artifact"),
                integration=integration,
                origin=ItemOrigin.AHARALLY,
                rally_text=mapping.normalise_html(sent),
            )
            attempts.finish(row, sent_values={**row.sent_values, "rally_oid": created.object_id})
            history.note(
                row,
                ActivityAction.ADOPTED if adopted else ActivityAction.CREATED,
                f"{label} in Rally" + (" (found after a lost answer)" if adopted else ""),
                user_id=row.decided_by_id or row.created_by_id,
            )
            discussion_changes.follow_up(
                row, integration, sent=sent, text_now=lambda c: post_text(c, integration, run)
            )
    except IntegrityError:
        # Paired meanwhile (a catch-up that brought this very object, another integration):
        # one pair each side; the row is done.
        attempts.finish(row, sent_values={})
    with run.lock:
        run.sent += 1


def _refuse(row: OutboxItem, integration: Integration, message: str) -> None:
    attempts.fail(row, kind=ErrorKind.VALIDATION, message=message)
    history.note(row, ActivityAction.FAILED, message)
    log_event(integration, LogLevel.WARNING, message)


def _label(row: OutboxItem, item) -> str:
    if row.kind == ItemKind.COMMENT:
        return "Comment"
    return f"Attachment {item.name if item is not None else row.values.get('name', '')}"


# The kinds whose next attempt looks in Rally after a lost answer (a removal converted from
# a create whose answer was lost looks for what it made).
LOOK_AFTER_LOST_ANSWER = (
    OutboxKind.CREATE, OutboxKind.COMMENT, OutboxKind.ATTACHMENT, OutboxKind.REMOVE,
)  # fmt: skip
