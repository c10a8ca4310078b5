"""Rally's posts and files on linked artifacts coming here through the catch-up (the real
sandbox): made once, echoes skipped, in a number of requests that does not grow with the
number of artifacts, and the *Comments*/*Attachments* directions kept both ways."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from aharally.discussion import services
from aharally.discussion.models import Attachment, Comment
from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import DISCUSSION_OFF, Direction, FieldMapping
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import DiscussionPair, OutboxItem
from aharally.sync.outgoing.drain import drain_outbox
from tests.sync.support import connect, sandbox_client, token
from tests.sync.test_discussion_push import linked_feature, rally_files, rally_posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def artifact(link) -> str:
    return f"/portfolioitem/feature/{link.rally_oid}"


def test_a_post_and_a_file_in_rally_come_here_once(cast, rally_sandbox, integration):
    word = token()
    feature, link = linked_feature(cast, integration, word)
    data = bytes(range(256)) * 40
    with sandbox_client(rally_sandbox) as client:
        post = client.create_post(artifact(link), f"<p>Answer {word}</p>")
        client.attach(artifact(link), name=f"{word}.log", data=data, content_type="text/plain")

    pull_updates(integration.pk)
    pull_updates(integration.pk)  # read again (the cursor's overlap): nothing twice

    [comment] = services.comments_of(feature)
    assert comment.body == f"<p>Answer {word}</p>"
    assert comment.author is None and comment.author_name  # Rally's user, by name
    assert comment.source == "Rally"
    [attachment] = services.attachments_of(feature)
    assert attachment.name == f"{word}.log"
    with attachment.file.open("rb") as handle:
        assert handle.read() == data
    assert DiscussionPair.objects.get(kind="comment", item_id=comment.pk).rally_oid == (
        post.object_id
    )
    # Brought from Rally: nothing goes back (still one post, one file there).
    drain_outbox(integration.pk)
    assert not OutboxItem.objects.filter(record_type__in=["comment", "attachment"]).exists()
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1
    assert len(rally_files(rally_sandbox, link.rally_oid)) == 1


def test_our_own_post_coming_back_is_an_echo(cast, rally_sandbox, integration):
    word = token()
    feature, _link = linked_feature(cast, integration, word)
    services.create_comment(record=feature, body=f"Mine {word}", user=cast.owner)
    services.add_attachment(
        record=feature, upload=ContentFile(b"abc", name=f"{word}.txt"), user=cast.owner
    )
    drain_outbox(integration.pk)

    pull_updates(integration.pk)

    assert Comment.objects.filter(record_id=feature.pk).count() == 1
    assert Attachment.objects.filter(record_id=feature.pk).count() == 1


def test_a_post_made_by_a_send_whose_answer_is_not_stored_yet_is_left_to_it(
    cast, rally_sandbox, integration, faults
):
    """The catch-up runs between a lost answer and the retry that finds the post."""
    word = token()
    feature, link = linked_feature(cast, integration, word)
    faults(
        kind="drop_after_commit",
        match={"method": "POST", "path_contains": "/conversationpost/create"},
        count=1,
    )
    from django.test import override_settings

    with override_settings(SYNC_DRAIN_WAIT_SECONDS=0, SYNC_BASE_BACKOFF_SECONDS=30):
        comment = services.create_comment(record=feature, body=f"Lost {word}", user=cast.owner)
        drain_outbox(integration.pk)
    row = OutboxItem.objects.get(record_type="comment", record_id=comment.pk)
    assert row.look_before_send and row.state == "queued"

    pull_updates(integration.pk)
    assert Comment.objects.filter(record_id=feature.pk).count() == 1  # not brought back

    OutboxItem.objects.filter(pk=row.pk).update(not_before=None)
    drain_outbox(integration.pk)
    pull_updates(integration.pk)
    assert Comment.objects.filter(record_id=feature.pk).count() == 1
    assert len(rally_posts(rally_sandbox, link.rally_oid)) == 1


def test_a_catch_up_over_many_artifacts_costs_the_same_requests(cast, rally_sandbox, integration):
    def catch_up_with_posts_on(n: int) -> tuple[int, int]:
        word = token()
        links = [linked_feature(cast, integration, f"{word} {i}")[1] for i in range(n)]
        with sandbox_client(rally_sandbox) as client:
            for link in links:
                client.create_post(artifact(link), f"<p>Hi {word}</p>")
        rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
        pull_updates(integration.pk)
        requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
        brought = Comment.objects.filter(body__contains=word).count()
        return requests, brought

    # The first catch-up to bring a post also reads what is kept for minutes (the project
    # tree, every pair's posts checked for edits): done here, so the two below compare the
    # same work whichever test ran before.
    catch_up_with_posts_on(1)
    small_requests, small = catch_up_with_posts_on(2)
    large_requests, large = catch_up_with_posts_on(12)
    assert (small, large) == (2, 12)
    # One query of new posts whatever their number (and one of new files): not one per
    # artifact. A page of stories whose features aharally lacks may add one query to either.
    assert abs(large_requests - small_requests) <= 1


@pytest.mark.parametrize(
    ("direction", "goes", "comes"),
    [
        (Direction.BOTH, True, True),
        (Direction.TO_RALLY, True, False),
        (Direction.TO_AHARALLY, False, True),
        (DISCUSSION_OFF, False, False),
    ],
)
def test_the_comments_and_attachments_lines_decide_the_direction(
    cast, rally_sandbox, integration, direction, goes, comes
):
    feature_mapping = integration.record_mappings.get(record_type="feature")
    for field in ("comments", "attachments"):
        FieldMapping.objects.create(
            record_mapping=feature_mapping, field=field, rally_field=field, direction=direction
        )
    word = token()
    feature, link = linked_feature(cast, integration, word)

    services.create_comment(record=feature, body=f"Here {word}", user=cast.owner)
    services.add_attachment(
        record=feature, upload=ContentFile(b"here", name=f"here-{word}.txt"), user=cast.owner
    )
    drain_outbox(integration.pk)
    with sandbox_client(rally_sandbox) as client:
        client.create_post(artifact(link), f"<p>There {word}</p>")
        client.attach(artifact(link), name=f"there-{word}.txt", data=b"there")
    pull_updates(integration.pk)

    there_posts = rally_posts(rally_sandbox, link.rally_oid)
    there_files = [a["Name"] for a, _ in rally_files(rally_sandbox, link.rally_oid)]
    assert (len(there_posts) == 2) is goes
    assert (f"here-{word}.txt" in there_files) is goes
    here_comments = [c.body for c in services.comments_of(feature)]
    here_files = [a.name for a in services.attachments_of(feature)]
    assert (f"<p>There {word}</p>" in here_comments) is comes
    assert (f"there-{word}.txt" in here_files) is comes


def test_a_rally_file_over_our_limit_is_refused_with_its_size(
    cast, rally_sandbox, integration, settings
):
    settings.ATTACHMENT_MAX_BYTES = 1_000
    word = token()
    feature, link = linked_feature(cast, integration, word)
    with sandbox_client(rally_sandbox) as client:
        client.attach(artifact(link), name=f"big-{word}.bin", data=b"x" * 1_001)

    pull_updates(integration.pk)

    assert not services.attachments_of(feature).exists()
    assert (
        IntegrationLogEntry.objects.filter(
            integration=integration, message__contains=f"big-{word}.bin"
        )
        .filter(message__contains="1,001 bytes")
        .exists()
    )


@pytest.fixture
def site_url(settings, live_server):
    """Set before the cluster starts (it takes SITE_URL with it): webhooks target this test."""
    settings.SITE_URL = live_server.url
    return live_server.url


def test_a_post_in_rally_rings_the_webhook_and_arrives_within_seconds(
    cast, rally_sandbox, site_url, task_cluster
):
    """The sandbox fires an "Updated" delivery of the artifact naming its Discussion (as its
    docs say Rally does); like any delivery it asks for the catch-up, which brings the post."""
    from aharally.sync.models import IncomingEvent, WebhookRegistration, WebhookState
    from tests.waiting import wait_until

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature, link = linked_feature(cast, integration, word)
    wait_until(
        lambda: WebhookRegistration.objects.filter(
            pk=integration.pk, state=WebhookState.REGISTERED
        ).exists(),
        timeout=30,
        what="the webhook's registration",
    )
    IncomingEvent.objects.all().delete()
    with sandbox_client(rally_sandbox) as client:
        client.create_post(artifact(link), f"<p>Hooked {word}</p>")

    wait_until(
        lambda: IncomingEvent.objects.filter(object_oid=link.rally_oid).exists(),
        timeout=30,
        what="the post's delivery",
    )
    wait_until(
        lambda: Comment.objects.filter(record_id=feature.pk, body__contains=word).exists(),
        timeout=30,
        what="the post as a comment",
    )


def test_new_posts_are_read_in_the_integration_s_projects_only(cast, rally_sandbox, integration):
    from aharally.integrations.templates_service import effective_config
    from aharally.sync.incoming.discussion import integration_projects
    from tests.sync.support import scope_of

    workspace, platform = scope_of(rally_sandbox)
    _, team_a = scope_of(rally_sandbox, project="Platform – Team A")  # noqa: RUF001
    other = scope_of(rally_sandbox, project="Mobile")[1]
    with sandbox_client(rally_sandbox) as client:
        scope = integration_projects(
            effective_config(integration), client, workspace=f"/workspace/{workspace}"
        )
        assert platform in scope and team_a in scope and other not in scope
        integration.exclude_child_updates = True
        integration.save(update_fields=["exclude_child_updates"])
        assert integration_projects(
            effective_config(integration), client, workspace=f"/workspace/{workspace}"
        ) == [platform]
