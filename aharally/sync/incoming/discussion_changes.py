"""The catch-up's edits and deletions of paired posts and files in Rally, brought here.

Rally's edit or deletion of a post or a file leaves its artifact's LastUpdateDate as it was,
and a post has no LastUpdateDate of its own to ask by. So the catch-up asks Rally for the
paired objects themselves, by ObjectID in `in` lists of 100 (`RallyClient.discussion_items`,
as `deletions.py` checks records): **one request per 100 pairs looked at**, whatever their
artifacts. Which pairs: those on the artifacts that webhook deliveries not yet processed
name (the sandbox, as we chose for Rally, announces a post's or a file's creation, edit and
deletion as an update of its artifact), so an edit arrives with its delivery; and every pair
of the integration once per `SWEEP_SECONDS` (and at the first catch-up), for a delivery lost.

A paired object Rally no longer has deletes ours (when that way comes here); a post whose
Text is not the one both sides last agreed (`DiscussionPair.rally_text`) replaces the
comment's text, by Rally (nothing echoes back). The pair's agreed text is read before Rally
is asked and again, locked, before it is applied: an edit of ours sent meanwhile is not
undone by Rally's older answer. An item with an edit or deletion of ours still to go is left
alone: ours goes, later than Rally's.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.discussion import services as discussion
from aharally.discussion.models import Attachment, Comment
from aharally.discussion.services import DiscussionError
from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.sync import history, mapping
from aharally.sync.models import (
    OPEN_STATES,
    ActivityAction,
    DiscussionPair,
    IncomingEvent,
    ItemKind,
    Link,
    LinkState,
    OutboxItem,
    OutboxState,
    PullCursor,
)
from aharally.sync.records import SOURCE, model_for

RALLY_TYPE = {ItemKind.COMMENT: "ConversationPost", ItemKind.ATTACHMENT: "Attachment"}
LINE = {ItemKind.COMMENT: "comments", ItemKind.ATTACHMENT: "attachments"}
MODEL = {ItemKind.COMMENT: Comment, ItemKind.ATTACHMENT: Attachment}
# Every pair of an integration is looked at in Rally at most this often (deliveries name the
# artifacts to look at in between).
SWEEP_SECONDS = 600
SWEPT = "discussion_swept"
# What our post says before a comment whose author is not Rally's user (outgoing/discussion.py)
_BYLINE = re.compile(r"^<p><b>[^<]*</b> wrote:</p>")


def recheck_discussion(integration, config, client, counts: dict, *, workspace) -> None:
    """Rally's edits and deletions of paired posts and files, applied here."""
    kinds = [
        kind
        for kind in (ItemKind.COMMENT, ItemKind.ATTACHMENT)
        if any(mapping.discussion_comes_here(m, LINE[kind]) for m in config.record_mappings)
    ]
    if not kinds:
        return
    cursor = PullCursor.objects.get(integration=integration)
    swept = parse_datetime(str(cursor.cursors.get(SWEPT) or ""))
    now = timezone.now()
    sweep = swept is None or now - swept >= timedelta(seconds=SWEEP_SECONDS)
    pairs = DiscussionPair.objects.filter(
        integration=integration, kind__in=kinds, removed_at__isnull=True
    )
    if not sweep:
        named = IncomingEvent.objects.filter(
            integration=integration, processed_at__isnull=True, object_oid__isnull=False
        ).values("object_oid")
        pairs = pairs.filter(artifact_oid__in=named)
    pairs = list(pairs)
    for kind in kinds:
        mine = [pair for pair in pairs if pair.kind == kind]
        if not mine:
            continue
        fetch = ("ObjectID", "Text") if kind == ItemKind.COMMENT else ("ObjectID",)
        held = {
            obj.object_id: obj
            for obj in client.discussion_items(
                RALLY_TYPE[kind], [p.rally_oid for p in mine], fetch=fetch, workspace=workspace
            )
        }
        _apply(integration, config, kind, mine, held, counts)
    if sweep:
        with transaction.atomic():
            row = PullCursor.objects.select_for_update().get(integration=integration)
            row.cursors = {**row.cursors, SWEPT: now.isoformat()}
            row.save(update_fields=["cursors"])


def _apply(integration, config, kind: str, pairs: list, held: dict, counts: dict) -> None:
    ours_to_go = set(
        OutboxItem.objects.filter(
            integration=integration,
            record_type=kind,
            record_id__in=[p.item_id for p in pairs],
            state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
        ).values_list("record_id", flat=True)
    )
    links = {
        link.rally_oid: link
        for link in Link.objects.filter(
            integration=integration,
            rally_oid__in={p.artifact_oid for p in pairs},
            state=LinkState.OK,
        )
    }
    for pair in pairs:
        if pair.item_id in ours_to_go:
            continue
        link = links.get(pair.artifact_oid)
        comes_here = link is not None and mapping.discussion_comes_here(
            config.mapping_for(link.record_type), LINE[kind]
        )
        obj = held.get(pair.rally_oid)
        if obj is None:
            _gone(integration, kind, pair, link, comes_here, counts)
        elif kind == ItemKind.COMMENT:
            _maybe_edited(integration, pair, link, comes_here, obj, counts)


def _gone(integration, kind, pair, link, comes_here: bool, counts: dict) -> None:
    with transaction.atomic():
        if not DiscussionPair.objects.filter(pk=pair.pk, removed_at__isnull=True).update(
            removed_at=timezone.now()
        ):
            return  # another run saw it first
        item = MODEL[kind].objects.filter(pk=pair.item_id).first()
        if item is None or not comes_here:
            return  # deleted here too, or that way is off: ours stays
        record = model_for(link.record_type).objects.filter(pk=link.record_id).first()
        if record is None:
            return
        if kind == ItemKind.COMMENT:
            discussion.remove_comment(comment=item, record=record, source=SOURCE)
            detail = "Comment deleted in Rally: deleted here"
        else:
            discussion.remove_attachment(attachment=item, record=record, source=SOURCE)
            detail = f"Attachment {item.name} deleted in Rally: deleted here"
        history.note(link, ActivityAction.RECEIVED, detail)
    counts["deleted_items"] = counts.get("deleted_items", 0) + 1


def _maybe_edited(integration, pair, link, comes_here: bool, obj, counts: dict) -> None:
    text = mapping.normalise_html(obj.get("Text"))
    if text == pair.rally_text:
        return
    with transaction.atomic():
        locked = DiscussionPair.objects.select_for_update().filter(pk=pair.pk).first()
        if locked is None or locked.rally_text != pair.rally_text or locked.removed_at:
            return  # agreed anew meanwhile (our edit sent): Rally's answer is older
        DiscussionPair.objects.filter(pk=pair.pk).update(rally_text=text)
        if not pair.rally_text or not comes_here:
            return  # a pair from before edits were followed: Rally's text is the agreed one
        comment = Comment.objects.filter(pk=pair.item_id).first()
        record = (
            model_for(link.record_type).objects.filter(pk=link.record_id).first()
            if comment is not None
            else None
        )
        if record is None:
            return
        try:
            discussion.replace_comment_body(
                comment=comment, record=record, body=_BYLINE.sub("", text), source=SOURCE
            )
        except DiscussionError as refusal:  # emptied in Rally, say
            log_event(
                integration,
                LogLevel.WARNING,
                f"An edit of a post on {link.label} in Rally was not brought: {refusal}",
            )
            return
        history.note(link, ActivityAction.RECEIVED, "Comment edited in Rally")
    counts["edited_items"] = counts.get("edited_items", 0) + 1
