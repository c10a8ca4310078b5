"""Comments and files that exist when a record becomes linked, carried across (the sandbox
as a real HTTP server): a record's own follow its first send, once each; a Rally object's
come here when it is linked to a record or imported; the mapping lines' directions kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile

from aharally.discussion import services
from aharally.integrations.models import DISCUSSION_OFF, Direction, FieldMapping
from aharally.records.models import Requirement
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Link, OutboxItem, OutboxKind, OutboxState, PullCursor
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, scope_of, token
from tests.sync.test_discussion_push import (
    feature_link,
    linked_feature,
    rally_files,
    rally_posts,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def set_direction(integration, record_type: str, direction: str) -> None:
    for field in ("comments", "attachments"):
        FieldMapping.objects.create(
            record_mapping=integration.record_mappings.get(record_type=record_type),
            field=field,
            rally_field=field,
            direction=direction,
        )


def rally_object(sandbox, type_path, **fields):
    _, project = scope_of(sandbox)
    with sandbox_client(sandbox) as client:
        return client.create(
            type_path,
            {"Project": f"/project/{project}", **fields},
            fetch=["ObjectID", "FormattedID"],
        )


def test_a_record_s_comments_and_files_follow_its_first_send_once_each(
    cast, rally_sandbox, integration
):
    word = token()
    feature = make_feature(cast.workspace, name=f"Before {word}")
    services.create_comment(record=feature, body=f"<p>Early {word}</p>", user=cast.owner)
    services.create_comment(record=feature, body=f"<p>Later {word}</p>", user=cast.owner)
    services.add_attachment(
        record=feature, upload=ContentFile(b"spec", name=f"{word}.txt"), user=cast.owner
    )
    assert not OutboxItem.objects.filter(record_type__in=["comment", "attachment"]).exists()

    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    drain_outbox(integration.pk)
    outbox.request_send(record=feature, integration=integration, user=cast.owner)  # again
    drain_outbox(integration.pk)
    link = feature_link(feature)

    texts = sorted(p["Text"] for p in rally_posts(rally_sandbox, link.rally_oid))
    assert len(texts) == 2
    assert f"Early {word}" in texts[0] and f"Later {word}" in texts[1]
    assert [a["Name"] for a, _ in rally_files(rally_sandbox, link.rally_oid)] == [f"{word}.txt"]
    assert (
        OutboxItem.objects.filter(
            kind__in=[OutboxKind.COMMENT, OutboxKind.ATTACHMENT], state=OutboxState.SENT
        ).count()
        == 3
    )
    pull_updates(integration.pk)  # they are ours coming back: nothing here twice
    assert services.comments_of(feature).count() == 2
    assert services.attachments_of(feature).count() == 1


def test_with_comments_to_aharally_only_a_record_s_comments_stay_here(
    cast, rally_sandbox, integration
):
    set_direction(integration, "feature", Direction.TO_AHARALLY)
    word = token()
    feature = make_feature(cast.workspace, name=f"Stays {word}")
    services.create_comment(record=feature, body=f"<p>Mine {word}</p>", user=cast.owner)
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    assert rally_posts(rally_sandbox, feature_link(feature).rally_oid) == []


@pytest.mark.parametrize(("direction", "comes"), [(Direction.BOTH, True), (DISCUSSION_OFF, False)])
def test_a_rally_feature_linked_to_a_record_brings_its_posts_and_files(
    cast, rally_sandbox, integration, direction, comes
):
    set_direction(integration, "feature", direction)
    word = token()
    existing = rally_object(rally_sandbox, "PortfolioItem/Feature", Name=f"Existing {word}")
    ref = f"/portfolioitem/feature/{existing.object_id}"
    with sandbox_client(rally_sandbox) as client:
        client.create_post(ref, f"<p>Old post {word}</p>")
        client.attach(ref, name=f"old-{word}.log", data=b"old", content_type="text/plain")
    anchor = make_feature(cast.workspace, name=f"Anchor {word}")
    outbox.request_send(record=anchor, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    pull_updates(integration.pk)  # the catch-up's cursors pass the old post and file

    feature = make_feature(cast.workspace, name=f"Ours {word}")
    OutboxItem.objects.create(
        integration=integration,
        record_type="feature",
        record_id=feature.pk,
        kind=OutboxKind.LINK,
        fields=[existing.formatted_id],
        state=OutboxState.QUEUED,
        created_by=cast.owner,
    )
    drain_outbox(integration.pk)
    assert feature_link(feature).rally_oid == existing.object_id
    pull_updates(integration.pk)
    pull_updates(integration.pk)  # once

    bodies = [c.body for c in services.comments_of(feature)]
    names = [a.name for a in services.attachments_of(feature)]
    assert bodies == ([f"<p>Old post {word}</p>"] if comes else [])
    assert names == ([f"old-{word}.log"] if comes else [])
    # Brought: nothing goes back.
    drain_outbox(integration.pk)
    assert len(rally_posts(rally_sandbox, existing.object_id)) == 1


def test_an_imported_story_brings_the_posts_it_had(cast, rally_sandbox, integration):
    word = token()
    feature = make_feature(cast.workspace, name=f"Parent {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = feature_link(feature)
    story = rally_object(
        rally_sandbox,
        "HierarchicalRequirement",
        Name=f"Story {word}",
        PortfolioItem=f"/portfolioitem/feature/{link.rally_oid}",
    )
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/hierarchicalrequirement/{story.object_id}", f"<p>Q {word}</p>")
    # The catch-up's post cursor is past that post already (read before, say): only the
    # import's link brings it.
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    cursor, _ = PullCursor.objects.get_or_create(integration=integration)
    cursor.cursors = {**cursor.cursors, "ConversationPost": later}
    cursor.save(update_fields=["cursors"])

    pull_updates(integration.pk)
    requirement = Requirement.objects.get(feature=feature)
    assert Link.objects.filter(
        record_type=RecordType.REQUIREMENT, record_id=requirement.pk
    ).exists()
    assert [c.body for c in services.comments_of(requirement)] == [f"<p>Q {word}</p>"]


def test_a_comment_added_while_the_record_s_create_waits_follows_it_once(
    cast, rally_sandbox, integration
):
    word = token()
    feature = make_feature(cast.workspace, name=f"Waiting {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    services.create_comment(record=feature, body=f"<p>Meanwhile {word}</p>", user=cast.owner)

    drain_outbox(integration.pk)
    drain_outbox(integration.pk)

    [post] = rally_posts(rally_sandbox, feature_link(feature).rally_oid)
    assert f"Meanwhile {word}" in post["Text"]


def _pass_the_post_cursor(integration) -> None:
    """The catch-up's post cursor moved past what is in Rally now, as when it read those
    posts before their artifact was linked (and so left them)."""
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    cursor, _ = PullCursor.objects.get_or_create(integration=integration)
    cursor.cursors = {**cursor.cursors, "ConversationPost": later}
    cursor.save(update_fields=["cursors"])


def _requests_of(rally_sandbox, work) -> int:
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
    work()
    return rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]


def test_what_is_on_objects_a_send_made_comes_without_a_read_by_artifact(
    cast, rally_sandbox, integration
):
    word = token()
    linked_feature(cast, integration, f"First {word}")
    pull_updates(integration.pk)  # the project tree read, every cursor moved
    idle = _requests_of(rally_sandbox, lambda: pull_updates(integration.pk))
    sent = [linked_feature(cast, integration, f"Sent {word} {n}") for n in range(3)]
    feature, link = sent[1]
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/portfolioitem/feature/{link.rally_oid}", f"<p>Early {word}</p>")
    _pass_the_post_cursor(integration)

    requests = _requests_of(rally_sandbox, lambda: pull_updates(integration.pk))

    assert link.created_by_send_at is not None
    assert [c.body for c in services.comments_of(feature)] == [f"<p>Early {word}</p>"]
    # The post and file queries reach back to the sends' first tries: no read by artifact
    # (it would be one request a kind for these three links).
    assert requests == idle
    pull_updates(integration.pk)
    assert len(services.comments_of(feature)) == 1  # once


def test_reaching_back_for_sent_objects_leaves_older_posts_elsewhere_as_they_were(
    cast, rally_sandbox, integration
):
    word = token()
    older, older_link = linked_feature(cast, integration, f"Older {word}")
    pull_updates(integration.pk)
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/portfolioitem/feature/{older_link.rally_oid}", f"<p>Left {word}</p>")
    _pass_the_post_cursor(integration)  # read and left, as while comments came no way
    feature, link = linked_feature(cast, integration, f"Newer {word}")
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/portfolioitem/feature/{link.rally_oid}", f"<p>Kept {word}</p>")

    pull_updates(integration.pk)

    assert [c.body for c in services.comments_of(feature)] == [f"<p>Kept {word}</p>"]
    assert list(services.comments_of(older)) == []


def test_an_object_whose_send_first_tried_long_ago_is_read_by_artifact(
    cast, rally_sandbox, integration
):
    word = token()
    linked_feature(cast, integration, f"First {word}")
    pull_updates(integration.pk)
    idle = _requests_of(rally_sandbox, lambda: pull_updates(integration.pk))
    feature, link = linked_feature(cast, integration, f"Long ago {word}")
    Link.objects.filter(pk=link.pk).update(
        created_by_send_at=datetime.now(UTC) - timedelta(hours=3)
    )  # tried while Rally was away for hours: the queries don't reach back that far
    with sandbox_client(rally_sandbox) as client:
        client.create_post(f"/portfolioitem/feature/{link.rally_oid}", f"<p>Late {word}</p>")
    _pass_the_post_cursor(integration)

    requests = _requests_of(rally_sandbox, lambda: pull_updates(integration.pk))

    assert [c.body for c in services.comments_of(feature)] == [f"<p>Late {word}</p>"]
    assert requests == idle + 2  # its posts and its files, by artifact
