"""Comments and attachments of linked records going to the real sandbox: what Rally holds
afterwards (counted there), after lost answers, approvals and refusals."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from aharally.discussion import services
from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import OutgoingMode
from aharally.rally.query import where
from aharally.sync.models import Activity, DiscussionPair, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.review import queue
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def linked_feature(cast, integration, word):
    feature = make_feature(cast.workspace, name=f"Checkout {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = feature_link(feature)
    assert link is not None
    return feature, link


def feature_link(feature):
    from aharally.sync.models import Link

    return Link.objects.filter(record_type=feature.record_type, record_id=feature.pk).first()


def rally_posts(sandbox, artifact_oid) -> list:
    with sandbox_client(sandbox) as client:
        return list(
            client.query(
                "ConversationPost",
                query=where("Artifact.ObjectID", "=", artifact_oid),
                fetch=["ObjectID", "Text", "User"],
            )
        )


def rally_files(sandbox, artifact_oid) -> list:
    with sandbox_client(sandbox) as client:
        found = list(client.attachments(f"/portfolioitem/feature/{artifact_oid}"))
        return [(a, client.attachment_bytes(a)) for a in found]


def test_a_comment_becomes_a_post_named_after_its_author(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)

    comment = services.create_comment(
        record=feature, body=f"Is <b>{word}</b> ready?", user=cast.contributor
    )
    drain_outbox(integration.pk)

    posts = rally_posts(rally_sandbox, link.rally_oid)
    assert len(posts) == 1
    # The sandbox's key belongs to another Rally user than the contributor: named.
    assert f"{cast.contributor.email}</b> wrote:" in posts[0]["Text"]
    assert f"<b>{word}</b> ready?" in posts[0]["Text"]
    pair = DiscussionPair.objects.get(kind="comment", item_id=comment.pk)
    assert pair.rally_oid == posts[0].object_id
    assert Activity.objects.filter(
        record_type=feature.record_type, record_id=feature.pk, detail="Comment in Rally"
    ).exists()

    drain_outbox(integration.pk)  # nothing left to send: still one post
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1


def test_an_attachment_goes_byte_for_byte(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)

    services.add_attachment(
        record=feature, upload=ContentFile(PNG, name=f"mock-{word}.png"), user=cast.contributor
    )
    drain_outbox(integration.pk)

    files = rally_files(rally_sandbox, link.rally_oid)
    assert len(files) == 1
    held, data = files[0]
    assert held["Name"] == f"mock-{word}.png"
    assert held["ContentType"] == "image/png"
    assert held["Size"] == len(PNG)
    assert data == PNG


@pytest.mark.parametrize(
    ("path", "make"),
    [("/conversationpost/create", "comment"), ("/attachment/create", "attachment")],
)
def test_a_lost_answer_is_looked_for_and_nothing_is_sent_twice(
    cast, rally_sandbox, integration, faults, settings, path, make
):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    faults(kind="drop_after_commit", match={"method": "POST", "path_contains": path}, count=1)

    if make == "comment":
        item = services.create_comment(record=feature, body=f"Lost {word}", user=cast.owner)
    else:
        item = services.add_attachment(
            record=feature, upload=ContentFile(b"log line\n", name=f"{word}.log"), user=cast.owner
        )
    drain_outbox(integration.pk)
    row = OutboxItem.objects.get(record_type=make, record_id=item.pk)
    if row.state != OutboxState.SENT:  # the drain's wait for its retry ran out first
        OutboxItem.objects.filter(pk=row.pk).update(not_before=None)
        drain_outbox(integration.pk)
        row.refresh_from_db()
    assert row.state == OutboxState.SENT, row.error_message
    assert row.attempts == 1  # the second attempt found it: no second request
    # The answer was lost, and the next attempt found the object in Rally.
    assert Activity.objects.filter(
        record_type=feature.record_type,
        record_id=feature.pk,
        detail__contains="found after a lost answer",
    ).exists()

    held = (
        rally_posts(rally_sandbox, link.rally_oid)
        if make == "comment"
        else rally_files(rally_sandbox, link.rally_oid)
    )
    assert len(held) == 1
    pair = DiscussionPair.objects.get(kind=make, item_id=item.pk)
    held_oid = held[0].object_id if make == "comment" else held[0][0].object_id
    assert pair.rally_oid == held_oid


def test_with_approval_it_waits_in_integration_updates(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    integration.outgoing_mode = OutgoingMode.APPROVE
    integration.save(update_fields=["outgoing_mode"])

    comment = services.create_comment(record=feature, body=f"Wait {word}", user=cast.contributor)
    drain_outbox(integration.pk)
    assert rally_posts(rally_sandbox, link.rally_oid) == []

    entries = queue.pending_entries(user=cast.owner, filters=queue.QueueFilters())
    [entry] = [e for e in entries if e.row.kind == OutboxKind.COMMENT]
    assert entry.record == feature
    assert entry.changes[0].new == f"Wait {word}"
    queue.approve(user=cast.owner, row_ids=[entry.row.pk])
    drain_outbox(integration.pk)
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1
    assert DiscussionPair.objects.filter(kind="comment", item_id=comment.pk).exists()


def test_a_file_rally_cant_take_is_refused_with_its_size(
    cast, rally_sandbox, integration, settings
):
    settings.ATTACHMENT_MAX_BYTES = 60_000_000  # ours is larger than Rally's 50 MB
    word = token()
    feature, link = linked_feature(cast, integration, word)

    class Big(ContentFile):
        """Says it is one byte over Rally's limit (without 50 MB on the disk)."""

        size = property(lambda self: 50_000_001, lambda self, value: None)

    attachment = services.add_attachment(
        record=feature, upload=Big(b"x", name=f"{word}.bin"), user=cast.owner
    )
    drain_outbox(integration.pk)

    row = OutboxItem.objects.get(record_type="attachment", record_id=attachment.pk)
    assert row.state == OutboxState.FAILED
    assert "50,000,001 bytes" in row.error_message
    assert "50,000,000 bytes" in row.error_message
    assert rally_files(rally_sandbox, link.rally_oid) == []
    assert IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="50,000,001 bytes"
    ).exists()
    assert Activity.objects.filter(
        record_type=feature.record_type, record_id=feature.pk, detail__contains="not sent"
    ).exists()


def test_a_worker_killed_mid_send_leaves_one_post(cast, rally_sandbox, integration, settings):
    """The dead worker's request reached Rally; its row, left in flight, is reclaimed and
    looks before it sends: the post is adopted, not made again."""
    from datetime import timedelta

    from django.utils import timezone

    word = token()
    feature, link = linked_feature(cast, integration, word)
    integration.outgoing_mode = OutgoingMode.APPROVE  # so that no drain takes it meanwhile
    integration.save(update_fields=["outgoing_mode"])
    comment = services.create_comment(record=feature, body=f"Killed {word}", user=cast.owner)
    row = OutboxItem.objects.get(record_type="comment", record_id=comment.pk)
    text = f"<p><b>{cast.owner.email}</b> wrote:</p>{comment.body}"
    # What the worker did before it died: marked the row, sent the post, got no answer.
    long_ago = timezone.now() - timedelta(seconds=settings.SYNC_CLAIM_TIMEOUT_SECONDS + 5)
    OutboxItem.objects.filter(pk=row.pk).update(
        state=OutboxState.IN_FLIGHT,
        claim_token="dead",
        claimed_at=long_ago,
        first_attempt_at=timezone.now(),
        attempts=1,
        look_before_send=True,
        sent_values={"text": text},
    )
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/portfolioitem/feature/{link.rally_oid}", text)

    drain_outbox(integration.pk)  # reclaims the stuck row, then sends it

    row.refresh_from_db()
    assert row.state == OutboxState.SENT
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1
    assert DiscussionPair.objects.filter(kind="comment", item_id=comment.pk).exists()


def test_integration_updates_shows_and_rejects_a_waiting_file(
    client, cast, rally_sandbox, integration
):
    from django.urls import reverse

    word = token()
    feature, link = linked_feature(cast, integration, word)
    integration.outgoing_mode = OutgoingMode.APPROVE
    integration.save(update_fields=["outgoing_mode"])
    attachment = services.add_attachment(
        record=feature, upload=ContentFile(PNG, name=f"wait-{word}.png"), user=cast.contributor
    )
    row = OutboxItem.objects.get(record_type="attachment", record_id=attachment.pk)
    client.force_login(cast.owner)

    page = client.get(reverse("sync:integration_updates")).content.decode()
    assert f"wait-{word}.png" in page and feature.name in page

    queue.reject(user=cast.owner, row_ids=[row.pk])
    drain_outbox(integration.pk)
    row.refresh_from_db()
    assert row.state == OutboxState.REJECTED
    assert rally_files(rally_sandbox, link.rally_oid) == []
    assert Activity.objects.filter(
        record_type=feature.record_type,
        record_id=feature.pk,
        detail=f"Rejected sending wait-{word}.png",
    ).exists()


def test_a_comment_costs_one_request_and_a_file_two(cast, rally_sandbox, integration):
    feature, _link = linked_feature(cast, integration, token())
    drain_outbox(integration.pk)  # whatever the link's send left (its look-ups) is done

    def requests_of(add) -> int:
        add()
        rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
        drain_outbox(integration.pk)
        return rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]

    assert (
        requests_of(
            lambda: services.create_comment(record=feature, body="One post", user=cast.owner)
        )
        == 1
    )
    assert (
        requests_of(
            lambda: services.add_attachment(
                record=feature, upload=ContentFile(PNG, name="one.png"), user=cast.owner
            )
        )
        == 2
    )
