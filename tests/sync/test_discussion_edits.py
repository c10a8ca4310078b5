"""Edits and deletions of comments and files, both ways, against the real sandbox: what
Rally and aharally hold afterwards (counted on both sides), after lost answers, approvals and
refusals, with the mapping lines' directions."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from aharally.discussion import services
from aharally.discussion.models import Attachment, Comment
from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import DISCUSSION_OFF, Direction, FieldMapping, OutgoingMode
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import DiscussionPair, IncomingEvent, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.review import queue
from aharally.sync.web.discussion_notes import item_notes
from aharally.workspaces.models import Membership
from tests.sync.support import connect, sandbox_client, token
from tests.sync.test_discussion_push import linked_feature, rally_files, rally_posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def membership(cast, user):
    return Membership.objects.get(workspace=cast.workspace, user=user)


def owner_of(cast):
    return membership(cast, cast.owner)


def artifact(link) -> str:
    return f"/portfolioitem/feature/{link.rally_oid}"


def sent_comment(cast, integration, feature, text):
    comment = services.create_comment(record=feature, body=text, user=cast.owner)
    drain_outbox(integration.pk)
    assert DiscussionPair.objects.filter(kind="comment", item_id=comment.pk).exists()
    return comment


def settle(integration, kind: str, item_id: int) -> None:
    """Drain until the item's rows are done (a retry's back-off waited out at once)."""
    for _ in range(5):
        drain_outbox(integration.pk)
        rows = OutboxItem.objects.filter(record_type=kind, record_id=item_id).exclude(
            state__in=[OutboxState.SENT, OutboxState.FAILED, OutboxState.REJECTED]
        )
        if not rows.exists():
            return
        rows.update(not_before=None)


def test_an_edited_comment_updates_its_post_once(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    comment = sent_comment(cast, integration, feature, f"<p>First {word}</p>")

    services.edit_comment(
        comment=comment,
        record=feature,
        body=f"<p>Second {word}</p>",
        membership=membership(cast, cast.owner),
    )
    drain_outbox(integration.pk)
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
    drain_outbox(integration.pk)  # nothing left: no second request
    assert rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"] == 0

    [post] = rally_posts(rally_sandbox, link.rally_oid)
    assert f"Second {word}" in post["Text"] and "First" not in post["Text"]
    row = OutboxItem.objects.get(kind=OutboxKind.EDIT, record_id=comment.pk)
    assert row.state == OutboxState.SENT

    # Its own edit coming back is no edit of Rally's: the comment keeps its text.
    pull_updates(integration.pk)
    comment.refresh_from_db()
    assert comment.body == f"<p>Second {word}</p>"
    assert not OutboxItem.objects.filter(kind=OutboxKind.EDIT, state=OutboxState.QUEUED).exists()


def test_deleting_a_comment_or_a_file_deletes_it_in_rally(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    comment = sent_comment(cast, integration, feature, f"<p>Gone {word}</p>")
    attachment = services.add_attachment(
        record=feature, upload=ContentFile(b"bye", name=f"{word}.txt"), user=cast.owner
    )
    drain_outbox(integration.pk)
    assert len(rally_files(rally_sandbox, link.rally_oid)) == 1
    ids = [comment.pk, attachment.pk]

    services.delete_comment(comment=comment, record=feature, membership=owner_of(cast))
    services.delete_attachment(
        attachment=attachment, record=feature, membership=membership(cast, cast.owner)
    )
    drain_outbox(integration.pk)

    assert rally_posts(rally_sandbox, link.rally_oid) == []
    assert rally_files(rally_sandbox, link.rally_oid) == []
    # The pairs stay, marked: nothing comes back at the next catch-up.
    assert DiscussionPair.objects.filter(item_id__in=ids).count() == 2
    assert not DiscussionPair.objects.filter(item_id__in=ids, removed_at__isnull=True).exists()
    pull_updates(integration.pk)
    assert not services.comments_of(feature).exists()
    assert not services.attachments_of(feature).exists()


def test_a_post_gone_already_counts_as_deleted(cast, rally_sandbox, integration):
    word = token()
    feature, _link = linked_feature(cast, integration, word)
    comment = sent_comment(cast, integration, feature, f"<p>Twice {word}</p>")
    pair = DiscussionPair.objects.get(kind="comment", item_id=comment.pk)
    with sandbox_client(rally_sandbox) as client:
        client.delete(f"/conversationpost/{pair.rally_oid}")

    comment_id = comment.pk
    services.delete_comment(comment=comment, record=feature, membership=owner_of(cast))
    drain_outbox(integration.pk)

    row = OutboxItem.objects.get(kind=OutboxKind.REMOVE, record_id=comment_id)
    assert row.state == OutboxState.SENT


def test_an_edit_made_while_the_create_s_answer_was_lost_follows_it(
    cast, rally_sandbox, integration, faults
):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    faults(
        kind="drop_after_commit",
        match={"method": "POST", "path_contains": "/conversationpost/create"},
        count=1,
    )
    comment = services.create_comment(record=feature, body=f"<p>Old {word}</p>", user=cast.owner)
    drain_outbox(integration.pk)  # Rally made the post; its answer was lost
    services.edit_comment(
        comment=comment,
        record=feature,
        body=f"<p>New {word}</p>",
        membership=membership(cast, cast.owner),
    )
    settle(integration, "comment", comment.pk)

    [post] = rally_posts(rally_sandbox, link.rally_oid)  # found, not made again
    assert f"New {word}" in post["Text"]
    pair = DiscussionPair.objects.get(kind="comment", item_id=comment.pk)
    assert pair.rally_oid == post.object_id


def test_a_comment_deleted_while_the_create_s_answer_was_lost_is_deleted_in_rally(
    cast, rally_sandbox, integration, faults
):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    faults(
        kind="drop_after_commit",
        match={"method": "POST", "path_contains": "/conversationpost/create"},
        count=1,
    )
    comment = services.create_comment(record=feature, body=f"<p>Oops {word}</p>", user=cast.owner)
    drain_outbox(integration.pk)
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1  # made, answer lost

    comment_id = comment.pk
    services.delete_comment(comment=comment, record=feature, membership=owner_of(cast))
    settle(integration, "comment", comment_id)

    assert rally_posts(rally_sandbox, link.rally_oid) == []
    pull_updates(integration.pk)
    assert not services.comments_of(feature).exists()  # nothing resurrected


def test_a_comment_deleted_before_it_was_sent_sends_nothing(cast, rally_sandbox, integration):
    word = token()
    feature, _link = linked_feature(cast, integration, word)
    integration.outgoing_mode = OutgoingMode.APPROVE
    integration.save(update_fields=["outgoing_mode"])
    comment = services.create_comment(record=feature, body=f"<p>Never {word}</p>", user=cast.owner)
    comment_id = comment.pk
    services.delete_comment(comment=comment, record=feature, membership=owner_of(cast))

    [row] = OutboxItem.objects.filter(record_type="comment", record_id=comment_id)
    assert row.state == OutboxState.SENT and row.sent_values == {}
    assert not queue.pending_entries(user=cast.owner, filters=queue.QueueFilters())


def test_with_approval_an_edit_waits_for_a_reviewer(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    comment = sent_comment(cast, integration, feature, f"<p>Draft {word}</p>")
    integration.outgoing_mode = OutgoingMode.APPROVE
    integration.save(update_fields=["outgoing_mode"])

    services.edit_comment(
        comment=comment,
        record=feature,
        body=f"<p>Final {word}</p>",
        membership=membership(cast, cast.owner),
    )
    drain_outbox(integration.pk)
    assert f"Draft {word}" in rally_posts(rally_sandbox, link.rally_oid)[0]["Text"]
    notes = item_notes(record=feature, comments=[comment], attachments=[])
    assert notes[("comment", comment.pk)][0] == "Edit waiting for approval to go to Rally"

    [entry] = queue.pending_entries(user=cast.owner, filters=queue.QueueFilters())
    assert entry.changes[0].label == "Edited comment → Discussion"
    # Filed under its author, as every other change: the author filter finds it.
    assert entry.row.created_by == cast.owner
    mine = queue.pending_entries(user=cast.owner, filters=queue.QueueFilters(author=cast.owner.pk))
    assert [e.row.pk for e in mine] == [entry.row.pk]
    assert entry.changes[0].new == f"Final {word}"
    queue.approve(user=cast.owner, row_ids=[entry.row.pk])
    drain_outbox(integration.pk)
    assert f"Final {word}" in rally_posts(rally_sandbox, link.rally_oid)[0]["Text"]


def test_an_edit_rally_refuses_is_said_in_the_thread_and_the_log_and_not_retried(
    cast, rally_sandbox, integration
):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    comment = sent_comment(cast, integration, feature, f"<p>Short {word}</p>")

    # Ours takes 100,000 characters; a post's Text in Rally at most 32,768.
    long = f"<p>{word} " + "x" * 40_000 + "</p>"
    services.edit_comment(
        comment=comment, record=feature, body=long, membership=membership(cast, cast.owner)
    )
    drain_outbox(integration.pk)
    drain_outbox(integration.pk)

    row = OutboxItem.objects.get(kind=OutboxKind.EDIT, record_id=comment.pk)
    assert row.state == OutboxState.FAILED
    assert row.attempts == 1  # refused once, never tried again by itself
    assert "32768" in row.error_message
    text, level = item_notes(record=feature, comments=[comment], attachments=[])[
        ("comment", comment.pk)
    ]
    assert text.startswith("Edit not sent to Rally: ") and "32768" in text
    assert level == "error"
    assert IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="was not sent to Rally"
    ).exists()
    assert f"Short {word}" in rally_posts(rally_sandbox, link.rally_oid)[0]["Text"]

    # Edited again (shorter): it goes.
    services.edit_comment(
        comment=comment,
        record=feature,
        body=f"<p>Fixed {word}</p>",
        membership=membership(cast, cast.owner),
    )
    drain_outbox(integration.pk)
    assert f"Fixed {word}" in rally_posts(rally_sandbox, link.rally_oid)[0]["Text"]


def test_a_post_edited_or_deleted_in_rally_follows_here(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    mine = sent_comment(cast, integration, feature, f"<p>Mine {word}</p>")
    with sandbox_client(rally_sandbox) as client:
        theirs = client.create_post(artifact(link), f"<p>Theirs {word}</p>")
        client.attach(artifact(link), name=f"{word}.log", data=b"log")
    pull_updates(integration.pk)
    brought = Comment.objects.get(body=f"<p>Theirs {word}</p>")
    file = Attachment.objects.get(name=f"{word}.log")
    mine_pair = DiscussionPair.objects.get(kind="comment", item_id=mine.pk)
    file_pair = DiscussionPair.objects.get(kind="attachment", item_id=file.pk)

    with sandbox_client(rally_sandbox) as client:
        client.update_post(theirs, f"<p>Theirs, edited {word}</p>")
        client.update_post(
            f"/conversationpost/{mine_pair.rally_oid}", f"<p>Mine, edited in Rally {word}</p>"
        )
        client.delete(f"/attachment/{file_pair.rally_oid}")
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
    pull_updates(integration.pk)  # no delivery, the sweep not due: nothing seen yet
    without = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
    assert Attachment.objects.filter(pk=file.pk).exists()
    # The deliveries the sandbox sends name the artifact; here they are written as received.
    for n in range(3):
        IncomingEvent.objects.create(
            integration=integration,
            message_id=f"{word}-{n}",
            action="Updated",
            object_oid=link.rally_oid,
        )
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
    pull_updates(integration.pk)

    brought.refresh_from_db()
    mine.refresh_from_db()
    assert brought.body == f"<p>Theirs, edited {word}</p>"
    assert mine.body == f"<p>Mine, edited in Rally {word}</p>"
    assert not Attachment.objects.filter(pk=file.pk).exists()
    # Nothing goes back: Rally's edits are Rally's.
    drain_outbox(integration.pk)
    assert not OutboxItem.objects.filter(kind__in=[OutboxKind.EDIT, OutboxKind.REMOVE]).exists()
    # Checked in two queries (posts, files by ObjectID), not one per item.
    with_deliveries = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
    assert with_deliveries == without + 2

    with sandbox_client(rally_sandbox) as client:
        client.delete(f"/conversationpost/{mine_pair.rally_oid}")
    IncomingEvent.objects.create(
        integration=integration, message_id=f"{word}-x", action="Updated", object_oid=link.rally_oid
    )
    pull_updates(integration.pk)
    assert not Comment.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize(
    ("direction", "goes", "comes"),
    [
        (Direction.TO_RALLY, True, False),
        (Direction.TO_AHARALLY, False, True),
        (DISCUSSION_OFF, False, False),
    ],
)
def test_the_comments_line_decides_where_edits_and_deletions_go(
    cast, rally_sandbox, integration, direction, goes, comes
):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    mine = sent_comment(cast, integration, feature, f"<p>Mine {word}</p>")
    with sandbox_client(rally_sandbox) as client:
        client.create_post(artifact(link), f"<p>Theirs {word}</p>")
    pull_updates(integration.pk)
    theirs = Comment.objects.get(body=f"<p>Theirs {word}</p>")
    theirs_pair = DiscussionPair.objects.get(kind="comment", item_id=theirs.pk)
    FieldMapping.objects.create(
        record_mapping=integration.record_mappings.get(record_type="feature"),
        field="comments",
        rally_field="comments",
        direction=direction,
    )

    services.edit_comment(
        comment=mine,
        record=feature,
        body=f"<p>Mine, edited {word}</p>",
        membership=membership(cast, cast.owner),
    )
    drain_outbox(integration.pk)
    with sandbox_client(rally_sandbox) as client:
        client.delete(f"/conversationpost/{theirs_pair.rally_oid}")
    IncomingEvent.objects.create(
        integration=integration, message_id=word, action="Updated", object_oid=link.rally_oid
    )
    pull_updates(integration.pk)

    texts = [p["Text"] for p in rally_posts(rally_sandbox, link.rally_oid)]
    assert any(f"Mine, edited {word}" in t for t in texts) is goes
    assert Comment.objects.filter(pk=theirs.pk).exists() is not comes
