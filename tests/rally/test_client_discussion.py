"""Posts and attachments through the client, against the sandbox over HTTP, counted in
requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aharally.rally import MAX_ATTACHMENT_BYTES, AttachmentTooLarge, RallyNotFound

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
