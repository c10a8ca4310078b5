"""Every comment and attachment URL is a 404 for a signed-out visitor, an outsider and a member
of another workspace; members without the capability get 403."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aharally.discussion.models import Attachment, Comment
from aharally.discussion.services import add_attachment, create_comment
from tests.discussion.support import url


@pytest.fixture
def thread(cast, feature):
    comment = create_comment(record=feature, body="Secret plan", user=cast.owner)
    attachment = add_attachment(
        record=feature,
        upload=SimpleUploadedFile("plan.txt", b"secret", content_type="text/plain"),
        user=cast.owner,
    )
    return comment, attachment


def every_url(feature, comment, attachment, prefix=None):
    """(method, url, data) for each view."""
    return [
        ("get", url(feature, prefix=prefix), None),
        ("post", url(feature, "comment_create", prefix=prefix), {"body": "hi"}),
        ("post", url(feature, "comment_edit", comment.pk, prefix=prefix), {"body": "hi"}),
        ("post", url(feature, "comment_delete", comment.pk, prefix=prefix), None),
        ("post", url(feature, "attachment_upload", prefix=prefix), {"file": b"x"}),
        ("get", url(feature, "attachment", attachment.pk, prefix=prefix), None),
        ("get", url(feature, "attachment", attachment.pk, prefix=prefix) + "?preview", None),
        ("post", url(feature, "attachment_delete", attachment.pk, prefix=prefix), None),
    ]


def call(client, method, path, data):
    if data and "file" in data:
        data = {"file": SimpleUploadedFile("x.txt", data["file"])}
    return getattr(client, method)(path, data or {})


@pytest.mark.parametrize("who", ["signed_out", "outsider", "other_workspace_member"])
def test_strangers_get_404_everywhere(client, cast, feature, thread, who):
    if who == "outsider":
        client.force_login(cast.outsider)
    elif who == "other_workspace_member":
        # A member of ELSE asks for PLAT's record under ELSE's prefix, and under PLAT's.
        client.force_login(cast.outsider)
    comment, attachment = thread
    urls = every_url(feature, comment, attachment)
    if who == "other_workspace_member":
        urls += every_url(feature, comment, attachment, prefix=cast.other_workspace.prefix)
    for method, path, data in urls:
        response = call(client, method, path, data)
        assert response.status_code == 404, (who, method, path, response.status_code)
    assert Comment.objects.get().body == comment.body
    assert Attachment.objects.count() == 1


def test_a_record_of_another_workspace_is_404_to_a_member_of_both(client, cast, feature, thread):
    """The URL's workspace decides: PLAT's record under ELSE's prefix is not found."""
    from aharally.workspaces.models import Membership, Role

    Membership.objects.create(workspace=cast.other_workspace, user=cast.viewer, role=Role.OWNER)
    client.force_login(cast.viewer)
    comment, attachment = thread
    for method, path, data in every_url(
        feature, comment, attachment, prefix=cast.other_workspace.prefix
    ):
        assert call(client, method, path, data).status_code == 404, path


def test_a_viewer_reads_and_downloads_but_does_not_write(client, cast, feature, thread):
    client.force_login(cast.viewer)
    comment, attachment = thread
    statuses = {
        path: call(client, method, path, data).status_code
        for method, path, data in every_url(feature, comment, attachment)
    }
    assert statuses == {
        url(feature): 200,
        url(feature, "comment_create"): 403,
        url(feature, "comment_edit", comment.pk): 403,
        url(feature, "comment_delete", comment.pk): 403,
        url(feature, "attachment_upload"): 403,
        url(feature, "attachment", attachment.pk): 200,
        url(feature, "attachment", attachment.pk) + "?preview": 200,
        url(feature, "attachment_delete", attachment.pk): 403,
    }


def test_unknown_record_types_comments_and_files_are_404(client, cast, feature, thread):
    client.force_login(cast.owner)
    comment, attachment = thread
    assert client.get(f"/w/PLAT/discussion/tag/{feature.reference}/").status_code == 404
    assert client.get(url(feature, "attachment", attachment.pk + 99)).status_code == 404
    assert client.post(url(feature, "comment_delete", comment.pk + 99)).status_code == 404
