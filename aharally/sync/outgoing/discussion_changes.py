"""Edits and deletions of comments and attachments that are in Rally, sent there.

Chosen, since Rally's WSAPI documents nothing certain about editing or deleting posts
(WSAPI.md §4.8): a post's `Text` is updated and a post or an attachment deleted, as Rally's
UI lets its users do (the sandbox allows both through WSAPI). When Rally refuses an update,
the thread and the integration log say "edit not sent to Rally" with Rally's reason; the row
fails and is not retried until the comment is edited again.

An edit or a deletion here (`on_item_changed`, through `discussion.hooks`, in the transaction
that makes it) writes an outbox row of kind *edit* or *remove* on the item (`record_type`
"comment"/"attachment", `record_id` the item's id), so approval, retries and the drain treat
it like any change, or merges into the item's open row:

- an unsent create takes the edit as it is (it sends the comment's text when it goes);
- an unsent create that was never tried is finished unsent when the item is deleted; one
  whose answer was lost becomes the *remove*, which looks for what the lost answer made and
  deletes it;
- a create in flight: the edit or removal waits (`Deferred`) until the create has paired the
  item (or given up), then sends once: an edit whose text equals what Rally was last sent
  (`DiscussionPair.rally_text`) sends nothing.

A Rally object gone already counts as deleted ("Object not found" on delete); the pair is
kept with `removed_at`, so neither side's copy comes back.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from aharally.discussion.models import Comment
from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, LogLevel
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import RallyError, RallyNotFound, RallyValidationError
from aharally.sync import enqueue, history, links, mapping
from aharally.sync.models import (
    DISCUSSION_CREATES,
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
from aharally.sync.outgoing import attempts
from aharally.sync.outgoing.outbox import approval_needed
from aharally.sync.outgoing.run import Deferred, DrainRun
from aharally.sync.records import SOURCE

LINE = {ItemKind.COMMENT: "comments", ItemKind.ATTACHMENT: "attachments"}
RALLY_PATH = {ItemKind.COMMENT: "conversationpost", ItemKind.ATTACHMENT: "attachment"}
# An edit or a removal waiting for its item's create to finish looks again after this long.
CREATE_WAIT_SECONDS = 1.0


# -- queueing, in the transaction of the edit or the deletion ---------------------------------


def on_item_changed(
    *, change: str, kind: str, item, item_id: int, record, source: str, user=None
) -> None:
    if source == SOURCE:
        return  # Rally's edit or deletion, brought by the sync: nothing goes back
    for link in Link.objects.filter(
        record_type=record.record_type, record_id=record.pk, state=LinkState.OK
    ).select_related("integration__template"):
        integration = link.integration
        record_mapping = effective_config(integration).mapping_for(record.record_type)
        if not mapping.discussion_goes_to_rally(record_mapping, LINE[kind]):
            continue
        _queue_change(
            change=change, kind=kind, item=item, item_id=item_id, link=link,
            integration=integration, user=user,
        )  # fmt: skip


def _queue_change(
    *, change, kind, item, item_id, link: Link, integration: Integration, user=None
) -> None:
    rows = list(
        OutboxItem.objects.select_for_update().filter(
            integration=integration, record_type=kind, record_id=item_id
        )
    )
    open_row = next((r for r in rows if r.state in OPEN_STATES), None)
    if any(r.kind in DISCUSSION_CREATES and r.state == OutboxState.IN_FLIGHT for r in rows):
        # Its create is being sent: when it pairs the item it reads the item again and
        # follows with the edit or the removal (`follow_up`). A second open row now would
        # meet the create's own retry, should its answer be lost.
        return
    pair = DiscussionPair.objects.filter(
        rally_site=links.site_of(integration), kind=kind, item_id=item_id
    ).first()
    if pair is not None and pair.integration_id not in (None, integration.pk):
        return  # another integration on this Rally sent (or brought) it: its changes go there
    if pair is None and open_row is None:
        return  # never went to Rally (added before the link, or while that way was off)
    if pair is not None and pair.removed_at is not None:
        return  # gone from Rally already
    text = mapping.normalise_html(item.body) if change == "edited" else ""
    if open_row is not None:
        _merge(open_row, change=change, text=text, pair=pair, integration=integration)
        return
    values = {
        "record_type": link.record_type,
        "record_id": link.record_id,
        "artifact": link.rally_oid,
        "rally_type": link.rally_type,
    }
    if change == "edited":
        values["text"] = text
    elif kind == ItemKind.ATTACHMENT:
        values.update(name=item.name, size=item.size)
    else:
        values["text"] = mapping.normalise_html(item.body)
    state = _initial_state(integration)
    OutboxItem.objects.create(
        integration=integration,
        record_type=kind,
        record_id=item_id,
        kind=OutboxKind.EDIT if change == "edited" else OutboxKind.REMOVE,
        values=values,
        state=state,
        created_by=user,  # Integration updates files it under its author
    )
    if state == OutboxState.QUEUED:
        enqueue.drain_on_commit(integration.pk)


def _initial_state(integration: Integration) -> str:
    return OutboxState.AWAITING_APPROVAL if approval_needed(integration) else OutboxState.QUEUED


def _merge(row: OutboxItem, *, change: str, text: str, pair, integration) -> None:
    """The item's open row takes the change (one open row an item)."""
    fields = ["values", "updated_at"]
    if row.kind == OutboxKind.REMOVE:
        return  # deleted here: nothing is edited any more
    if change == "edited":
        row.values = {**row.values, "text": text}
    elif row.kind in DISCUSSION_CREATES and not row.look_before_send and pair is None:
        # Never sent, or surely not made: nothing in Rally to delete.
        row.state, row.finished_at = OutboxState.SENT, timezone.now()
        row.sent_values, row.error_kind, row.error_message = {}, "", ""
        row.save(update_fields=[*fields, "state", "finished_at", "sent_values", "error_kind",
                                "error_message"])  # fmt: skip
        history.note(row, ActivityAction.SKIPPED, "Deleted here before it was sent.")
        return
    else:
        # Sent, or maybe made by a lost answer: the row now deletes what Rally holds.
        row.kind = OutboxKind.REMOVE
        fields.append("kind")
    if row.state == OutboxState.FAILED or row.kind == OutboxKind.REMOVE:
        # A refused edit edited again, or a deletion: it goes (or waits for approval) anew.
        row.state = _initial_state(integration)
        row.error_kind, row.error_message, row.not_before = "", "", None
        row.attempts = 0
        fields += ["state", "error_kind", "error_message", "not_before", "attempts"]
    row.save(update_fields=fields)
    if row.state == OutboxState.QUEUED:
        enqueue.drain_on_commit(integration.pk)


def follow_up(row: OutboxItem, integration: Integration, *, sent: str, text_now) -> None:
    """After a create paired its item (in that transaction, after the row is finished, so an
    edit or a deletion committing meanwhile is seen here or sees the pair): the item deleted
    since then is removed from Rally; a comment whose text is not what was sent (edited while
    the create was under way, or a lost answer's older text adopted) gets an edit."""
    from aharally.discussion.models import Attachment

    model = Comment if row.record_type == ItemKind.COMMENT else Attachment
    item = model.objects.filter(pk=row.record_id).first()
    link = Link(
        record_type=row.values.get("record_type"),
        record_id=row.values.get("record_id"),
        rally_oid=row.values.get("artifact"),
        rally_type=row.values.get("rally_type"),
    )
    if item is None:
        change, item = "deleted", model(pk=row.record_id, name=row.values.get("name", ""))
    elif row.record_type == ItemKind.COMMENT and mapping.normalise_html(
        sent
    ) != mapping.normalise_html(text_now(item)):
        change = "edited"
    else:
        return
    _queue_change(
        change=change,
        kind=row.record_type,
        item=item,
        item_id=row.record_id,
        link=link,
        integration=integration,
        user=row.created_by,
    )


# -- sending, in the drain ----------------------------------------------------------------------


def _create_under_way(row: OutboxItem) -> bool:
    return OutboxItem.objects.filter(
        integration_id=row.integration_id,
        record_type=row.record_type,
        record_id=row.record_id,
        kind__in=DISCUSSION_CREATES,
        state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
    ).exists()


def _pair_of(row: OutboxItem, integration: Integration) -> DiscussionPair | None:
    return DiscussionPair.objects.filter(
        rally_site=links.site_of(integration), kind=row.record_type, item_id=row.record_id
    ).first()


def _newer_open_row(row: OutboxItem) -> bool:
    return (
        OutboxItem.objects.filter(
            integration_id=row.integration_id,
            record_type=row.record_type,
            record_id=row.record_id,
            state__in=OPEN_STATES,
        )
        .exclude(pk=row.pk)
        .exists()
    )


def _superseded(row: OutboxItem) -> bool:
    """A failed attempt whose item changed again meanwhile: the newer row says it all (and a
    retry of this one would be a second open row of the item)."""
    if _newer_open_row(row):
        attempts.finish(row, sent_values={})
        return True
    return False


def _attempt(row: OutboxItem, sent_values: dict) -> None:
    """Counted before the request, so a row that keeps failing gives up."""
    row.attempts += 1
    row.first_attempt_at = row.first_attempt_at or timezone.now()
    row.sent_values = sent_values
    OutboxItem.objects.filter(pk=row.pk, claim_token=row.claim_token).update(
        attempts=row.attempts, first_attempt_at=row.first_attempt_at, sent_values=sent_values
    )


def push_edit(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    from aharally.sync.outgoing.discussion import post_text

    comment = Comment.objects.filter(pk=row.record_id).first()
    pair = _pair_of(row, integration)
    if comment is None or (pair is not None and pair.removed_at is not None):
        attempts.finish(row, sent_values={})
        return  # deleted on either side: its removal (or the catch-up) says so
    if pair is None:
        if _create_under_way(row):
            raise Deferred(CREATE_WAIT_SECONDS)
        attempts.finish(row, sent_values={})
        history.note(row, ActivityAction.SKIPPED, "Edit not sent: the comment is not in Rally.")
        return
    text = post_text(comment, integration, run)
    if mapping.normalise_html(text) == pair.rally_text:
        attempts.finish(row, sent_values={})  # Rally has this text already: nothing to send
        return
    _attempt(row, {"text": text})
    try:
        run.client.update_post(f"/conversationpost/{pair.rally_oid}", text)
    except RallyNotFound:
        attempts.finish(row, sent_values={})
        history.note(row, ActivityAction.SKIPPED, "Edit not sent: the post is gone from Rally.")
        return
    except RallyValidationError as error:
        if _superseded(row):
            return
        reason = "; ".join(error.messages) or error.message
        attempts.fail(row, kind=ErrorKind.VALIDATION, message=reason)
        history.note(row, ActivityAction.FAILED, f"Edit not sent to Rally: {reason}")
        log_event(
            integration,
            LogLevel.WARNING,
            f"The edit of a comment on {_reference(row)} was not sent to Rally: {reason}",
            "Rally keeps the text it had; edit the comment again to try once more.",
        )
        return
    except RallyError:
        if _superseded(row):
            return
        raise
    with transaction.atomic():
        DiscussionPair.objects.filter(pk=pair.pk).update(rally_text=mapping.normalise_html(text))
        attempts.finish(row, sent_values={"text": text, "rally_oid": pair.rally_oid})
        history.note(
            row,
            ActivityAction.UPDATED,
            "Comment edit in Rally",
            user_id=row.decided_by_id or row.created_by_id,
        )
    with run.lock:
        run.sent += 1


def push_remove(row: OutboxItem, run: DrainRun, *, integration: Integration) -> None:
    from aharally.sync.outgoing.discussion import find_lost

    pair = _pair_of(row, integration)
    if pair is None:
        if _create_under_way(row):
            raise Deferred(CREATE_WAIT_SECONDS)
        sent = row.sent_values or {}
        found = None
        if row.look_before_send and ("text" in sent or "name" in sent):
            # A create whose answer was lost, deleted here since: what it made goes.
            found = find_lost(row, run, item=None)
        if found is None:
            attempts.finish(row, sent_values={})
            return
        # Paired first (and committed), so a lost answer to the delete is found again.
        pair = DiscussionPair.objects.create(
            rally_site=links.site_of(integration),
            kind=row.record_type,
            item_id=row.record_id,
            rally_oid=found.object_id,
            artifact_oid=row.values.get("artifact"),
            integration=integration,
            origin=ItemOrigin.AHARALLY,
        )
    if pair.removed_at is None:
        _attempt(row, {"rally_oid": pair.rally_oid})
        try:
            run.client.delete_discussion_item(f"/{RALLY_PATH[row.record_type]}/{pair.rally_oid}")
        except RallyValidationError as error:
            reason = "; ".join(error.messages) or error.message
            attempts.fail(row, kind=ErrorKind.VALIDATION, message=reason)
            history.note(row, ActivityAction.FAILED, f"Deletion not sent to Rally: {reason}")
            log_event(
                integration,
                LogLevel.WARNING,
                f"A deleted {row.record_type} on {_reference(row)} was not deleted in Rally: "
                f"{reason}",
            )
            return
    with transaction.atomic():
        DiscussionPair.objects.filter(pk=pair.pk, removed_at__isnull=True).update(
            removed_at=timezone.now()
        )
        attempts.finish(row, sent_values={"rally_oid": pair.rally_oid})
        what = "Comment" if row.record_type == ItemKind.COMMENT else (
            f"Attachment {row.values.get('name', '')}".strip()
        )  # fmt: skip
        history.note(
            row,
            ActivityAction.UPDATED,
            f"{what} deleted in Rally",
            user_id=row.decided_by_id or row.created_by_id,
        )
    with run.lock:
        run.sent += 1


def _reference(row: OutboxItem) -> str:
    from aharally.sync.records import load_record

    record = load_record(row.values.get("record_type", ""), row.values.get("record_id") or 0)
    return record.reference if record is not None else "a record"
