from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.records.models import Feature, Tag
from aharally.workspaces.models import RecordType, WorkflowStatus
from tests.factories import make_feature, make_release, parking_lot


def board_url(workspace):
    return reverse("records:board", kwargs={"prefix": workspace.prefix})


def card_references(html: str) -> list[str]:
    return re.findall(r'data-reference="([^"]+)"', html)


def column_names(html: str) -> list[str]:
    return re.findall(r'<h2 id="column-\d+">([^<]+)</h2>', html)


def statuses(workspace):
    return list(WorkflowStatus.objects.filter(workspace=workspace, record_type=RecordType.FEATURE))


def bulk_features(workspace, releases, count, *, assignees=(), tags=()):
    """Many features at once, as seed data would have them (statuses, assignees, tags)."""
    flow = statuses(workspace)
    start = workspace.next_feature_number
    features = [
        Feature(
            workspace=workspace,
            number=start + i,
            reference=f"{workspace.prefix}-{start + i}",
            name=f"Feature number {start + i}",
            release=releases[i % len(releases)],
            status=flow[i % len(flow)],
            assignee=assignees[i % len(assignees)] if assignees else None,
            rank=float(i + 1),
        )
        for i in range(count)
    ]
    Feature.objects.bulk_create(features, batch_size=500)
    workspace.next_feature_number = start + count
    workspace.save(update_fields=["next_feature_number"])
    if tags:
        through = Feature.tags.through
        created = Feature.objects.filter(workspace=workspace, number__gte=start).values_list(
            "pk", flat=True
        )
        through.objects.bulk_create(
            [through(feature_id=pk, tag_id=tags[pk % len(tags)].pk) for pk in created],
            batch_size=500,
        )


def test_the_board_shows_one_column_per_release_with_parking_lots_last(client, cast):
    make_release(cast.workspace, name="Release 2")
    make_release(cast.workspace, name="Release 1")
    client.force_login(cast.viewer)
    response = client.get(board_url(cast.workspace))
    assert response.status_code == 200
    assert column_names(response.content.decode()) == ["Release 2", "Release 1", "Parking lot"]


def test_cards_appear_in_rank_order_with_reference_name_status_and_assignee(client, cast):
    release = make_release(cast.workspace, name="Release 1")
    make_feature(cast.workspace, release=release, name="Second", rank=2.0)
    first = make_feature(
        cast.workspace, release=release, name="First", rank=1.0, assignee=cast.owner
    )
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace)).content.decode()
    assert card_references(html) == ["PLAT-2", "PLAT-1"]
    first_card = html[html.index(f'id="card-{first.pk}"') :]
    first_card = first_card[: first_card.index("</article>")]
    assert "First" in first_card
    assert 'data-status-color="#9aa5b1"' in first_card
    assert "Under consideration" in first_card
    assert 'title="owner@example.com"' in first_card


def test_editors_get_drag_and_selection_controls(client, cast):
    make_feature(cast.workspace)
    for who in (cast.owner, cast.contributor):
        client.force_login(who)
        html = client.get(board_url(cast.workspace)).content.decode()
        assert 'data-can-edit="true"' in html
        assert 'class="card-select"' in html
        assert "data-move " in html
        assert 'id="bulk-form"' in html


def test_viewers_and_reviewers_see_a_read_only_board(client, cast):
    make_feature(cast.workspace, name="Visible to all")
    for who in (cast.viewer, cast.reviewer):
        client.force_login(who)
        html = client.get(board_url(cast.workspace)).content.decode()
        assert "Visible to all" in html
        assert 'data-can-edit="false"' in html
        assert 'class="card-select"' not in html
        assert "data-move " not in html
        assert 'id="bulk-form"' not in html
        assert 'id="move-dialog"' not in html


def test_an_outsider_gets_404_for_another_workspaces_board(client, cast):
    client.force_login(cast.outsider)
    assert client.get(board_url(cast.workspace)).status_code == 404


def test_the_workspaces_own_address_opens_its_board(client, cast):
    client.force_login(cast.viewer)
    response = client.get(f"/w/{cast.workspace.prefix}/", follow=True)
    assert response.redirect_chain == [(board_url(cast.workspace), 302)]
    assert response.status_code == 200
    client.force_login(cast.outsider)
    assert client.get(f"/w/{cast.workspace.prefix}/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(client, cast):
    response = client.get(board_url(cast.workspace))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_board_filters_by_status(client, cast):
    flow = statuses(cast.workspace)
    make_feature(cast.workspace, name="Shipping", status=flow[4])
    make_feature(cast.workspace, name="Considering", status=flow[0])
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace), {"status": flow[4].pk}).content.decode()
    assert card_references(html) == ["PLAT-1"]


def test_the_board_filters_by_assignee_and_by_unassigned(client, cast):
    make_feature(cast.workspace, name="Bob's", assignee=cast.contributor)
    make_feature(cast.workspace, name="Nobody's")
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace), {"assignee": cast.contributor.pk}).content
    assert card_references(html.decode()) == ["PLAT-1"]
    html = client.get(board_url(cast.workspace), {"assignee": "none"}).content
    assert card_references(html.decode()) == ["PLAT-2"]


def test_the_board_filters_by_tag(client, cast):
    mobile = Tag.objects.create(workspace=cast.workspace, name="mobile")
    make_feature(cast.workspace, tags=[mobile])
    make_feature(cast.workspace)
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace), {"tag": mobile.pk}).content.decode()
    assert card_references(html) == ["PLAT-1"]


def test_the_board_searches_by_name_or_reference(client, cast):
    make_feature(cast.workspace, name="Single sign-on")
    make_feature(cast.workspace, name="Dark mode")
    client.force_login(cast.viewer)
    by_name = client.get(board_url(cast.workspace), {"q": "sign"}).content.decode()
    assert card_references(by_name) == ["PLAT-1"]
    by_reference = client.get(board_url(cast.workspace), {"q": "plat-2"}).content.decode()
    assert card_references(by_reference) == ["PLAT-2"]


def test_filters_naming_nothing_on_this_board_are_ignored(client, cast):
    foreign_status = statuses(cast.other_workspace)[0]
    make_feature(cast.workspace)
    client.force_login(cast.viewer)
    for params in (
        {"status": foreign_status.pk},
        {"status": "nonsense"},
        {"assignee": cast.outsider.pk},
        {"tag": "-3"},
    ):
        html = client.get(board_url(cast.workspace), params).content.decode()
        assert card_references(html) == ["PLAT-1"], params


def test_an_htmx_request_for_the_columns_gets_only_the_columns(client, cast):
    make_feature(cast.workspace, name="Partial")
    client.force_login(cast.viewer)
    response = client.get(
        board_url(cast.workspace), headers={"HX-Request": "true", "HX-Target": "board-columns"}
    )
    html = response.content.decode()
    assert "Partial" in html
    assert "<html" not in html
    assert 'id="board-filters"' not in html


def test_the_board_never_shows_another_workspaces_features(client, cast):
    make_feature(cast.other_workspace, name="Foreign secret")
    make_feature(cast.workspace, name="Ours")
    client.force_login(cast.owner)
    html = client.get(board_url(cast.workspace)).content.decode()
    assert "Ours" in html
    assert "Foreign secret" not in html


def count_board_queries(client, workspace) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(board_url(workspace))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("who", ["contributor", "viewer"])
def test_the_boards_query_count_does_not_grow_with_the_number_of_features(client, cast, who):
    releases = [make_release(cast.workspace, name=f"Release {i}") for i in (1, 2, 3)]
    releases.append(parking_lot(cast.workspace))
    tags = [Tag.objects.create(workspace=cast.workspace, name=n) for n in ("api", "mobile")]
    people = [cast.owner, cast.contributor]
    client.force_login(getattr(cast, who))

    bulk_features(cast.workspace, releases, 20, assignees=people, tags=tags)
    small = count_board_queries(client, cast.workspace)
    bulk_features(cast.workspace, releases, 1980, assignees=people, tags=tags)
    assert Feature.objects.filter(workspace=cast.workspace).count() == 2000
    large = count_board_queries(client, cast.workspace)

    assert small == large
    # Session, user, membership, statuses, members, tags, the custom fields the filter offers,
    # releases, cards, the bulk bar's selects, the cards' Rally links and comment counts,
    # Send to Rally's integrations, the top bar's Integration updates and unread notifications:
    # a short fixed list.
    assert large <= 18


def test_a_columns_header_sums_its_estimates(client, cast):
    release = make_release(cast.workspace, name="Release 1")
    make_feature(cast.workspace, release=release, estimate=3)
    make_feature(cast.workspace, release=release, estimate="2.5")
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace)).content.decode()
    assert "Σ <span data-column-estimate-total>5.50</span>" in html
    assert 'data-estimate="2.50"' in html  # each card's, for re-totalling after a move


def test_a_filter_id_too_large_for_the_database_is_ignored(client, cast):
    make_feature(cast.workspace)
    client.force_login(cast.viewer)
    huge = str(2**70)
    html = client.get(board_url(cast.workspace), {"status": huge, "tag": huge}).content
    assert card_references(html.decode()) == ["PLAT-1"]
