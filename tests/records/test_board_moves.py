from __future__ import annotations

import itertools

import pytest
from django.urls import reverse

from aharally.records.board import MIN_RANK_GAP, MoveError, move_feature
from aharally.records.models import Feature, RecordChange
from tests.factories import make_feature, make_release, parking_lot


def column(release) -> list[str]:
    return list(
        Feature.objects.filter(release=release)
        .order_by("rank", "id")
        .values_list("name", flat=True)
    )


@pytest.fixture
def lane(cast):
    """A release with cards A, B, C in that order."""
    release = make_release(cast.workspace, name="Release 1")
    cards = {name: make_feature(cast.workspace, release=release, name=name) for name in "ABC"}
    return release, cards


def test_a_card_placed_after_another_lands_between_its_new_neighbours(lane):
    release, cards = lane
    move_feature(feature=cards["C"], release=release, after=cards["A"].pk)
    assert column(release) == ["A", "C", "B"]


def test_a_card_placed_before_the_first_goes_to_the_top(lane):
    release, cards = lane
    move_feature(feature=cards["C"], release=release, before=cards["A"].pk)
    assert column(release) == ["C", "A", "B"]


def test_a_card_with_no_neighbours_goes_to_the_end(lane, cast):
    release, _cards = lane
    stray = make_feature(cast.workspace, name="D")
    move_feature(feature=stray, release=release)
    assert column(release) == ["A", "B", "C", "D"]


def test_a_move_writes_only_the_moved_card_while_the_gap_is_wide(lane):
    release, cards = lane
    before = dict(Feature.objects.values_list("name", "rank"))
    move_feature(feature=cards["A"], release=release, after=cards["B"].pk)
    after = dict(Feature.objects.values_list("name", "rank"))
    assert [name for name in before if before[name] != after[name]] == ["A"]


def test_a_column_is_renumbered_when_the_gap_gets_too_small(lane):
    release, cards = lane
    Feature.objects.filter(pk=cards["B"].pk).update(rank=cards["A"].rank + MIN_RANK_GAP / 10)
    move_feature(feature=cards["C"], release=release, after=cards["A"].pk)
    assert column(release) == ["A", "C", "B"]
    ranks = list(
        Feature.objects.filter(release=release).order_by("rank").values_list("rank", flat=True)
    )
    assert all(high - low > MIN_RANK_GAP for low, high in itertools.pairwise(ranks))


def test_many_moves_into_the_same_gap_keep_the_order_right(lane, cast):
    release, cards = lane
    moved = []
    for i in range(60):  # halves the same gap again and again: renumbering must kick in
        feature = make_feature(cast.workspace, name=f"N{i}")
        move_feature(feature=feature, release=release, after=cards["A"].pk)
        moved.insert(0, f"N{i}")
    assert column(release) == ["A", *moved, "B", "C"]


def test_a_move_to_another_release_is_kept_in_the_history(lane, cast):
    _release, cards = lane
    move_feature(feature=cards["A"], release=parking_lot(cast.workspace), user=cast.contributor)
    change = RecordChange.objects.get(object_id=cards["A"].pk, field="release")
    assert (change.old_value, change.new_value) == ("PLAT-R-2 Release 1", "PLAT-R-1 Parking lot")
    assert change.changed_by == cast.contributor
    assert not RecordChange.objects.filter(field="rank").exists()


def test_a_move_to_another_workspaces_release_is_refused(lane, cast):
    _release, cards = lane
    with pytest.raises(MoveError, match="Choose a release of this workspace"):
        move_feature(feature=cards["A"], release=parking_lot(cast.other_workspace))
    assert Feature.objects.get(pk=cards["A"].pk).release.workspace == cast.workspace


def test_a_neighbour_from_another_column_is_refused(lane, cast):
    release, cards = lane
    elsewhere = make_feature(cast.workspace, name="Elsewhere")
    with pytest.raises(MoveError, match="no longer in Release 1"):
        move_feature(feature=cards["A"], release=release, after=elsewhere.pk)
    assert column(release) == ["A", "B", "C"]


# The view.


def move(client, workspace, **data):
    return client.post(reverse("records:move_card", kwargs={"prefix": workspace.prefix}), data)


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("contributor", 200), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_who_may_move_cards(client, cast, lane, role, status):
    release, cards = lane
    client.force_login(getattr(cast, role))
    response = move(
        client, cast.workspace, feature=cards["C"].pk, release=release.pk, before=cards["A"].pk
    )
    assert response.status_code == status
    expected = ["C", "A", "B"] if status == 200 else ["A", "B", "C"]
    assert column(release) == expected


def test_moving_a_card_answers_with_where_it_went(client, cast, lane):
    _release, cards = lane
    lot = parking_lot(cast.workspace)
    client.force_login(cast.contributor)
    response = move(client, cast.workspace, feature=cards["B"].pk, release=lot.pk)
    assert response.status_code == 200
    assert response.json()["release_name"] == "Parking lot"
    assert Feature.objects.get(pk=cards["B"].pk).release == lot


def test_moving_a_card_needs_a_post(client, cast, lane):
    client.force_login(cast.contributor)
    url = reverse("records:move_card", kwargs={"prefix": cast.workspace.prefix})
    assert client.get(url).status_code == 405


def test_a_move_to_another_workspaces_release_gets_a_clear_error(client, cast, lane):
    release, cards = lane
    client.force_login(cast.contributor)
    foreign = parking_lot(cast.other_workspace)
    response = move(client, cast.workspace, feature=cards["A"].pk, release=foreign.pk)
    assert response.status_code == 400
    assert response.json() == {"error": "Choose a release of this workspace."}
    assert Feature.objects.get(pk=cards["A"].pk).release == release


def test_a_feature_of_another_workspace_cannot_be_moved_through_this_one(client, cast):
    foreign = make_feature(cast.other_workspace)
    client.force_login(cast.contributor)
    response = move(
        client, cast.workspace, feature=foreign.pk, release=parking_lot(cast.workspace).pk
    )
    assert response.status_code == 404
    assert Feature.objects.get(pk=foreign.pk).workspace == cast.other_workspace


@pytest.mark.parametrize("after", ["nonsense", "999999"])
def test_an_unknown_neighbour_gets_a_clear_error_and_moves_nothing(client, cast, lane, after):
    release, cards = lane
    client.force_login(cast.contributor)
    lot = parking_lot(cast.workspace)
    response = move(client, cast.workspace, feature=cards["A"].pk, release=lot.pk, after=after)
    assert response.status_code == 400
    assert "error" in response.json()
    assert column(release) == ["A", "B", "C"]
    assert not RecordChange.objects.filter(field="release").exists()


@pytest.mark.parametrize("field", ["feature", "release", "after"])
def test_ids_too_large_for_the_database_are_refused_cleanly(client, cast, lane, field):
    release, cards = lane
    client.force_login(cast.contributor)
    data = {"feature": cards["A"].pk, "release": release.pk, "after": cards["B"].pk}
    data[field] = str(2**70)
    response = move(client, cast.workspace, **data)
    assert response.status_code in (400, 404)
    assert "error" in response.json()
    assert column(release) == ["A", "B", "C"]
