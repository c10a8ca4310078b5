"""ConversationPost, Attachment and AttachmentContent as WSAPI.md §4.7-4.8 shapes them."""

from __future__ import annotations

import base64
import uuid

import pytest

pytestmark = pytest.mark.sandbox_only


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def create(api, type_path: str, **fields) -> dict:
    root = type_path.split("/")[-1]
    response = api.post(
        f"{api.base}/{type_path.lower()}/create", json={root: fields}, params={"fetch": "true"}
    )
    return response.json()["CreateResult"]


def created(api, type_path: str, **fields) -> dict:
    result = create(api, type_path, **fields)
    assert result["Errors"] == [], result["Errors"]
    return result["Object"]


@pytest.fixture
def feature(api):
    """A feature, deleted afterwards (the session's sandbox is shared: other tests count
    top-level portfolio items)."""
    made = created(api, "PortfolioItem/Feature", Name=f"Discussed {uuid.uuid4().hex[:6]}")
    yield made
    assert api.delete(made["_ref"]).json()["OperationResult"]["Errors"] == []


def test_posts_are_numbered_by_artifact_authored_by_the_caller_and_listed(api, feature):
    first = created(api, "ConversationPost", Artifact=feature["_ref"], Text="<p>Why?</p>")
    second = created(api, "ConversationPost", Artifact=feature["_ref"], Text="<p>Because.</p>")
    assert (first["PostNumber"], second["PostNumber"]) == (1, 2)
    assert first["Text"] == "<p>Why?</p>"
    assert first["Artifact"]["_ref"].endswith(feature["_ref"].split("/v2.0")[1])
    me = api.get(f"{api.base}/user").json()["User"]
    assert first["User"]["_ref"] == me["_ref"]
    assert first["CreationDate"]

    # The artifact's Discussion collection, with its Count, and its members in order.
    artifact = api.get(feature["_ref"]).json()["Feature"]
    assert artifact["Discussion"]["Count"] == 2
    page = api.get(artifact["Discussion"]["_ref"], params={"fetch": "Text,PostNumber"}).json()
    texts = [post["Text"] for post in page["QueryResult"]["Results"]]
    assert texts == ["<p>Why?</p>", "<p>Because.</p>"]

    # Queried by Artifact and CreationDate, as a catch-up does.
    since = first["CreationDate"]
    query = f'((Artifact = "{feature["_ref"]}") AND (CreationDate >= "{since}"))'
    found = api.get(
        f"{api.base}/conversationpost",
        params={"query": query, "fetch": "PostNumber", "order": "PostNumber"},
    ).json()["QueryResult"]
    assert [post["PostNumber"] for post in found["Results"]] == [1, 2]


def test_a_post_needs_an_artifact_and_text(api, feature):
    assert create(api, "ConversationPost", Text="<p>orphan</p>")["Errors"]
    assert create(api, "ConversationPost", Artifact=feature["_ref"], Text="")["Errors"]
    assert create(api, "ConversationPost", Artifact=feature["_ref"], Text="<script>x</script>")[
        "Errors"
    ]


def test_an_attachment_is_two_creates_read_back_and_deleted(api, feature):
    data = b"log line\n\x00\xff binary too"
    content = created(api, "AttachmentContent", Content=base64.b64encode(data).decode())
    attachment = created(
        api,
        "Attachment",
        Name="build.log",
        Content=content["_ref"],
        ContentType="text/plain",
        Size=len(data),
        Artifact=feature["_ref"],
    )
    assert (attachment["Name"], attachment["Size"], attachment["ContentType"]) == (
        "build.log",
        len(data),
        "text/plain",
    )
    assert attachment["User"] is not None
    artifact = api.get(feature["_ref"]).json()["Feature"]
    assert artifact["Attachments"]["Count"] == 1
    listed = api.get(artifact["Attachments"]["_ref"], params={"fetch": "Name,Content"}).json()
    (item,) = listed["QueryResult"]["Results"]
    read = api.get(item["Content"]["_ref"]).json()["AttachmentContent"]
    assert base64.b64decode(read["Content"]) == data

    assert api.delete(attachment["_ref"]).json()["OperationResult"]["Errors"] == []
    assert api.delete(content["_ref"]).json()["OperationResult"]["Errors"] == []
    assert api.get(feature["_ref"]).json()["Feature"]["Attachments"]["Count"] == 0


def test_more_than_50_000_000_bytes_is_refused(api, feature):
    big = create(api, "AttachmentContent", Content=base64.b64encode(b"x" * 50_000_001).decode())
    assert big["Errors"] == [
        "Validation error: AttachmentContent is too large: 50000001 bytes; the largest "
        "attachment Rally accepts is 50000000 bytes"
    ]
    content = created(api, "AttachmentContent", Content=base64.b64encode(b"x").decode())
    said = create(
        api, "Attachment", Name="big.bin", Content=content["_ref"], Size=50_000_001,
        Artifact=feature["_ref"],
    )  # fmt: skip
    assert said["Errors"][0].startswith("Validation error: Attachment is too large")
    assert create(api, "AttachmentContent", Content="not base64!")["Errors"]
