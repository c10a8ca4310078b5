"""The thread costs a constant number of SQL queries, whatever the number of comments, files
or cards."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.discussion.services import add_attachment, create_comment
from tests.discussion.support import HTMX
from tests.factories import make_feature, make_user


def fill(feature, cast, n: int) -> None:
    # Several authors, so a query per author would show.
    authors = [cast.owner, cast.contributor] + [make_user() for _ in range(3)]
    for i in range(n):
        create_comment(record=feature, body=f"Comment {i}", user=authors[i % len(authors)])
        add_attachment(
            record=feature,
            upload=SimpleUploadedFile(f"f{i}.png", b"png", content_type="image/png"),
            user=authors[i % len(authors)],
        )


def count(client, path, **kwargs) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **kwargs)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("view", ["drawer", "panel"])
def test_the_drawers_thread_adds_constant_queries_at_2_and_50_comments(client, cast, view):
    client.force_login(cast.contributor)
    few, many = make_feature(cast.workspace), make_feature(cast.workspace)
    fill(few, cast, 2)
    fill(many, cast, 50)
    bare = make_feature(cast.workspace)

    def path(feature):
        if view == "drawer":
            return f"/w/PLAT/features/{feature.reference}/"
        return f"/w/PLAT/discussion/feature/{feature.reference}/"

    count(client, path(bare), headers=HTMX)  # warm caches (content types, sessions)
    at_0 = count(client, path(bare), headers=HTMX)
    at_2 = count(client, path(few), headers=HTMX)
    at_50 = count(client, path(many), headers=HTMX)
    assert at_2 == at_50
    # Comments and attachments: one query each, with their people.
    assert at_2 == at_0


def test_the_boards_comment_counts_are_one_query_for_every_card(client, cast):
    client.force_login(cast.viewer)
    features = [make_feature(cast.workspace) for _ in range(6)]
    board = "/w/PLAT/features/board/"
    count(client, board)
    before = count(client, board)
    for i, feature in enumerate(features):
        for _ in range(i + 1):
            create_comment(record=feature, body="hi", user=cast.owner)
    after = count(client, board)
    assert after == before
    html = client.get(board).content.decode()
    assert 'title="1 comment"' in html and 'title="6 comments"' in html
