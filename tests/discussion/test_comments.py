"""Comments: written, edited and deleted through the services, each leaving a history line."""

from __future__ import annotations

import pytest

from aharally.discussion.models import Comment
from aharally.discussion.services import (
    DiscussionError,
    create_comment,
    delete_comment,
    edit_comment,
)
from aharally.records.history import record_history
from aharally.records.services import create_epic, create_initiative
from aharally.workspaces.models import Membership
from tests.discussion.support import HTMX, url
from tests.factories import make_release, make_requirement


def membership(cast, user):
    return Membership.objects.get(workspace=cast.workspace, user=user)


def test_a_comment_is_sanitised_and_shown_newest_last(client, cast, feature):
    client.force_login(cast.contributor)
    for text in ("<p>First</p><script>alert(1)</script>", "Second\n\nwith a paragraph"):
        response = client.post(url(feature, "comment_create"), {"body": text}, headers=HTMX)
        assert response.status_code == 200
    first, second = Comment.objects.order_by("id")
    assert first.body == "<p>First</p>"
    assert second.body == "<p>Second</p>\n\n<p>with a paragraph</p>"
    html = client.get(url(feature), headers=HTMX).content.decode()
    assert "<script>" not in html
    assert html.index("First") < html.index("with a paragraph")
    assert "contributor@example.com" in html


def test_an_empty_comment_is_refused_with_its_message(client, cast, feature):
    client.force_login(cast.contributor)
    for body in ("", "   ", "<p> </p>"):
        response = client.post(url(feature, "comment_create"), {"body": body}, headers=HTMX)
        assert response.status_code == 422
        assert "A comment needs some text." in response.content.decode()
    assert not Comment.objects.exists()


def test_comments_leave_history_lines_on_their_record(cast, feature):
    author = membership(cast, cast.contributor)
    comment = create_comment(record=feature, body="<p>Is SAML enough?</p>", user=cast.contributor)
    edit_comment(comment=comment, record=feature, body="Is OIDC enough?", membership=author)
    delete_comment(comment=comment, record=feature, membership=author)
    lines = [(e.label, e.old_value, e.new_value) for e in record_history(feature)]
    assert lines == [
        ("Comments", "Is OIDC enough?", ""),
        ("Comments", "Is SAML enough?", "Is OIDC enough?"),
        ("Comments", "", "Is SAML enough?"),
    ]


def test_the_history_tells_what_was_done_to_a_comment_or_a_file(client, cast, feature):
    author = membership(cast, cast.contributor)
    comment = create_comment(record=feature, body="Is SAML enough?", user=cast.contributor)
    edit_comment(comment=comment, record=feature, body="Is OIDC enough?", membership=author)
    delete_comment(comment=comment, record=feature, membership=author)
    lines = [(e.verb, e.subject, e.values_shown) for e in record_history(feature)]
    assert lines == [
        ("deleted", "a comment", "old"),
        ("edited", "a comment", "both"),
        ("commented", "", "new"),
    ]
    client.force_login(cast.contributor)
    html = client.get(f"/w/{cast.workspace.prefix}/features/{feature.reference}/").content.decode()
    assert "commented" in html and "changed <strong>Comments" not in html


def test_only_the_author_edits_and_owners_delete_any(client, cast, feature):
    comment = create_comment(record=feature, body="Mine", user=cast.contributor)
    with pytest.raises(DiscussionError):
        edit_comment(
            comment=comment, record=feature, body="Theirs", membership=membership(cast, cast.owner)
        )
    client.force_login(cast.owner)
    edit = client.post(url(feature, "comment_edit", comment.pk), {"body": "x"}, headers=HTMX)
    assert edit.status_code == 403
    client.force_login(cast.viewer)
    delete = client.post(url(feature, "comment_delete", comment.pk), headers=HTMX)
    assert delete.status_code == 403
    client.force_login(cast.owner)
    delete = client.post(url(feature, "comment_delete", comment.pk), headers=HTMX)
    assert delete.status_code == 200
    assert not Comment.objects.exists()


def test_the_author_edits_in_place(client, cast, feature):
    comment = create_comment(record=feature, body="Draft", user=cast.contributor)
    client.force_login(cast.contributor)
    response = client.post(
        url(feature, "comment_edit", comment.pk), {"body": "Final"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "(edited)" in response.content.decode()
    comment.refresh_from_db()
    assert comment.body == "<p>Final</p>"
    assert comment.edited_at is not None


@pytest.mark.parametrize("kind", ["initiative", "epic", "release", "requirement"])
def test_every_record_type_has_a_thread_on_its_page(client, cast, feature, kind):
    workspace = cast.workspace
    record = {
        "initiative": lambda: create_initiative(workspace=workspace, name="Grow"),
        "epic": lambda: create_epic(workspace=workspace, name="Identity"),
        "release": lambda: make_release(workspace, name="R1"),
        "requirement": lambda: make_requirement(feature, name="SAML"),
    }[kind]()
    create_comment(record=record, body=f"About the {kind}", user=cast.owner)
    client.force_login(cast.viewer)
    if kind == "requirement":
        page = (
            f"/w/{workspace.prefix}/features/{feature.reference}/requirements/{record.number}/?edit"
        )
        client.force_login(cast.contributor)  # the requirement's page is its edit page
    else:
        page = f"/w/{workspace.prefix}/{kind}s/{record.reference}/"
    html = client.get(page).content.decode()
    assert f"About the {kind}" in html
    assert f'id="discussion-{kind}-{record.pk}"' in html


def test_the_drawer_and_the_board_card_show_the_thread(client, cast, feature):
    create_comment(record=feature, body="One", user=cast.owner)
    create_comment(record=feature, body="Two", user=cast.owner)
    client.force_login(cast.viewer)
    drawer = client.get(f"/w/PLAT/features/{feature.reference}/", headers=HTMX).content.decode()
    assert "One" in drawer and "Two" in drawer
    # A viewer reads, but has no form to write with.
    assert "Add a comment" not in drawer
    # Not linked to Rally: nothing said of Rally (tests/sync/test_discussion_notes.py).
    assert "Rally" not in drawer.split('class="discussion"')[1].split("</section>")[0]
    board = client.get("/w/PLAT/features/board/").content.decode()
    assert 'title="2 comments"' in board


def test_a_comment_from_the_board_updates_the_cards_count_out_of_band(client, cast, feature):
    client.force_login(cast.contributor)
    headers = {**HTMX, "HX-Current-URL": "http://testserver/w/PLAT/features/board/"}
    response = client.post(url(feature, "comment_create"), {"body": "Hi"}, headers=headers)
    html = response.content.decode()
    assert f'id="card-links-{feature.pk}" hx-swap-oob="true"' in html
    assert 'title="1 comment"' in html


def test_a_plain_form_post_goes_back_to_the_records_page(client, cast, feature):
    client.force_login(cast.contributor)
    response = client.post(url(feature, "comment_create"), {"body": "Plain"})
    assert response.status_code == 302
    assert response["Location"] == f"/w/PLAT/features/{feature.reference}/"
    refused = client.post(url(feature, "comment_create"), {"body": ""})
    assert refused.status_code == 422
    assert "A comment needs some text." in refused.content.decode()
