"""Posts and attachments through the client, against the sandbox over HTTP, counted in
requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aharally.rally import MAX_ATTACHMENT_BYTES, AttachmentTooLarge, RallyNotFound
from aharally.rally.query import where

pytestmark = pytest.mark.sandbox_only


@pytest.fixture
def stories(client, platform, marker):
    made = [
        client.create("HierarchicalRequirement", {"Name": f"{marker} {i}", "Project": platform})
        for i in range(3)
    ]
    yield made
    for story in made:
        client.delete(story)


def test_posts_are_written_and_read_for_many_artifacts_in_one_request(
    client, stories, requests_made
):
    before = datetime.now(UTC) - timedelta(seconds=5)
    for i, story in enumerate(stories):
        for n in range(i + 1):
            post = client.create_post(story, f"<p>Post {n} on {i}</p>")
            assert post["PostNumber"] == n + 1
            assert post["Text"] == f"<p>Post {n} on {i}</p>"
            assert post.ref_of("User") is not None
    requests_made.clear()
    found = list(client.posts(stories, since=before))
    assert len(requests_made) == 1
    assert sorted(p.ref_of("Artifact").object_id for p in found) == sorted(
        [stories[0].object_id] + [stories[1].object_id] * 2 + [stories[2].object_id] * 3
    )
    # Nothing newer than the newest: the same question with a later cursor finds nothing.
    assert list(client.posts(stories, since=datetime.now(UTC) + timedelta(minutes=1))) == []


def test_posts_of_more_artifacts_than_a_query_names_take_one_request_per_chunk(
    client, stories, requests_made, monkeypatch
):
    import aharally.rally.discussion as discussion

    monkeypatch.setattr(discussion, "POSTS_QUERY_ARTIFACTS", 2)
    client.create_post(stories[2], "<p>last</p>")
    requests_made.clear()
    found = list(client.posts(stories))
    assert len(requests_made) == 2
    assert [p["Text"] for p in found] == ["<p>last</p>"]


def test_a_file_is_attached_listed_and_read_back_byte_for_byte(client, stories, requests_made):
    data = bytes(range(256)) * 3
    requests_made.clear()
    attachment = client.attach(stories[0], name="trace.bin", data=data)
    assert requests_made.methods() == ["POST", "POST"]
    assert (attachment.name, attachment["Size"]) == ("trace.bin", len(data))
    (listed,) = client.attachments(stories[0])
    assert listed.object_id == attachment.object_id
    assert client.attachment_bytes(listed) == data


def test_a_file_over_the_limit_is_refused_before_any_request(client, stories, requests_made):
    requests_made.clear()
    with pytest.raises(AttachmentTooLarge) as refused:
        client.attach(stories[0], name="big.bin", data=b"\0" * (MAX_ATTACHMENT_BYTES + 1))
    assert len(requests_made) == 0
    assert "50,000,001 bytes" in str(refused.value)


def test_a_refused_attachment_leaves_no_orphan_content(client, requests_made):
    with pytest.raises(RallyNotFound):
        client.attach("/hierarchicalrequirement/999999999", name="x.txt", data=b"x")
    # content create, attachment create (refused), content delete
    assert requests_made.methods() == ["POST", "POST", "DELETE"]


def test_a_post_is_updated_and_deleted_and_a_deleted_one_is_no_error(
    client, stories, requests_made
):
    post = client.create_post(stories[0], "<p>before</p>")
    requests_made.clear()
    updated = client.update_post(post, "<p>after</p>")
    assert updated["Text"] == "<p>after</p>"
    assert client.delete_discussion_item(post) is True
    assert client.delete_discussion_item(post) is False  # gone already: Rally's "not found"
    assert len(requests_made) == 3


def test_a_post_text_rally_cant_hold_is_refused_with_rally_s_reason(client, stories):
    from aharally.rally import RallyValidationError

    post = client.create_post(stories[0], "<p>short</p>")
    with pytest.raises(RallyValidationError) as refused:
        client.update_post(post, "<p>" + "x" * 40_000 + "</p>")
    assert "32768" in refused.value.message


def test_paired_items_are_found_by_object_id_a_hundred_a_request(
    client, stories, requests_made, monkeypatch
):
    import aharally.rally.discussion as discussion

    posts = [client.create_post(story, "<p>kept</p>") for story in stories]
    client.delete(posts[1])
    monkeypatch.setattr(discussion, "POSTS_QUERY_ARTIFACTS", 2)
    requests_made.clear()
    held = list(
        client.discussion_items("ConversationPost", [p.object_id for p in posts], fetch=["Text"])
    )
    assert sorted(p.object_id for p in held) == sorted([posts[0].object_id, posts[2].object_id])
    assert len(requests_made) == 2  # three ObjectIDs, two a query


def test_new_posts_are_read_only_on_artifacts_of_the_projects_given(client, stories, platform):
    since = datetime.now(UTC) - timedelta(seconds=5)
    client.create_post(stories[0], "<p>in platform</p>")
    elsewhere = client.query(
        "Project", query=where("Name", "!=", "Platform"), fetch=["Name"]
    ).first()
    assert elsewhere is not None
    texts = lambda projects: [  # noqa: E731
        p["Text"] for p in client.posts_since(since, projects=projects)
    ]
    assert "<p>in platform</p>" in texts([platform.object_id])
    assert "<p>in platform</p>" not in texts([elsewhere.object_id])
    assert texts([]) == []


def test_posts_of_a_hundred_artifacts_are_one_request_rally_takes(client, stories, requests_made):
    """A hundred artifacts a query (POSTS_QUERY_ARTIFACTS) as an `in` list: as a chain of a
    hundred ORed conditions its URL was past the request line servers take (HTTP 414), and
    the first catch-up after linking many records failed on it."""
    from aharally.rally.discussion import POSTS_QUERY_ARTIFACTS

    client.create_post(stories[0], "<p>among many</p>")
    others = [f"/hierarchicalrequirement/{990_000_000_000 + n}" for n in range(97)]
    artifacts = [*stories, *others]
    assert len(artifacts) == POSTS_QUERY_ARTIFACTS
    requests_made.clear()
    found = list(client.posts(artifacts))
    files = list(client.attachments_on(artifacts))
    assert len(requests_made) == 2
    assert [p["Text"] for p in found] == ["<p>among many</p>"]
    assert files == []
