"""Portfolio item roll-ups from leaf stories, and the LastUpdateDate change Rally gives them."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.sandbox_only

ROLLUPS = [
    "LeafStoryCount",
    "AcceptedLeafStoryCount",
    "LeafStoryPlanEstimateTotal",
    "AcceptedLeafStoryPlanEstimateTotal",
    "PercentDoneByStoryCount",
    "PercentDoneByStoryPlanEstimate",
]


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def create(api, type_path: str, **fields) -> dict:
    body = api.post(f"{api.base}/{type_path}/create", json={type_path: fields}).json()
    assert body["CreateResult"]["Errors"] == [], body
    return body["CreateResult"]["Object"]


def update(api, ref: str, type_path: str, **fields) -> None:
    body = api.post(ref, json={type_path: fields}).json()
    assert body["OperationResult"]["Errors"] == [], body


def read(api, ref: str) -> dict:
    (item,) = api.get(ref).json().values()
    return item


def rollups(api, ref: str) -> dict:
    item = read(api, ref)
    return {name: item[name] for name in ROLLUPS}


def found_after(api, type_path: str, cursor: str, marker: str) -> set[str]:
    """What a catch-up query (`LastUpdateDate > cursor`) returns among this test's items."""
    query = f'((LastUpdateDate > "{cursor}") AND (Name contains "{marker}"))'
    results = api.get(
        f"{api.base}/{type_path}", params={"query": query, "fetch": "Name", "pagesize": 200}
    ).json()["QueryResult"]["Results"]
    return {item["Name"] for item in results}


@pytest.fixture
def portfolio(api):
    """An initiative over a feature with stories: two leaves, a parent story and its child."""
    marker = f"roll-{uuid.uuid4().hex[:6]}"
    initiative = create(api, "PortfolioItem/Initiative", Name=f"{marker} initiative")
    feature = create(
        api, "PortfolioItem/Feature", Name=f"{marker} feature", Parent=initiative["_ref"]
    )
    story = "HierarchicalRequirement"
    done = create(api, story, Name=f"{marker} done", PortfolioItem=feature["_ref"],
                  PlanEstimate=3, ScheduleState="Accepted")  # fmt: skip
    todo = create(api, story, Name=f"{marker} todo", PortfolioItem=feature["_ref"],
                  PlanEstimate=5, ScheduleState="Defined")  # fmt: skip
    parent = create(api, story, Name=f"{marker} parent", PortfolioItem=feature["_ref"],
                    PlanEstimate=8, ScheduleState="Defined")  # fmt: skip
    child = create(api, story, Name=f"{marker} child", Parent=parent["_ref"], PlanEstimate=2,
                   ScheduleState="Accepted")  # fmt: skip
    yield {"marker": marker, "initiative": initiative, "feature": feature, "done": done,
           "todo": todo, "parent": parent, "child": child}  # fmt: skip
    delete_marked(api, marker)


def delete_marked(api, marker: str, workspace: str | None = None) -> None:
    """Delete what a test made: other tests count the workspace's top-level portfolio items."""
    for type_path in ("hierarchicalrequirement", "portfolioitem"):
        params = {"query": f'(Name contains "{marker}")', "pagesize": 200}
        if workspace:
            params["workspace"] = workspace
        found = api.get(f"{api.base}/{type_path}", params=params).json()["QueryResult"]
        for item in found["Results"]:
            assert api.delete(item["_ref"]).json()["OperationResult"]["Errors"] == []


def test_a_feature_rolls_up_its_leaf_stories(api, portfolio):
    # The parent story has a child, so it is no leaf: done (3, accepted), todo (5), child (2, acc.)
    expected = {
        "LeafStoryCount": 3,
        "AcceptedLeafStoryCount": 2,
        "LeafStoryPlanEstimateTotal": 10,
        "AcceptedLeafStoryPlanEstimateTotal": 5,
        "PercentDoneByStoryCount": 0.6667,
        "PercentDoneByStoryPlanEstimate": 0.5,
    }
    assert rollups(api, portfolio["feature"]["_ref"]) == expected
    # An initiative rolls up the leaf stories of its features.
    assert rollups(api, portfolio["initiative"]["_ref"]) == expected


def test_roll_ups_come_through_a_query_fetch(api, portfolio):
    results = api.get(
        f"{api.base}/portfolioitem/feature",
        params={"query": f'(Name = "{portfolio["marker"]} feature")', "fetch": ",".join(ROLLUPS)},
    ).json()["QueryResult"]["Results"]
    (feature,) = results
    assert feature["LeafStoryCount"] == 3 and feature["PercentDoneByStoryCount"] == 0.6667


def test_a_story_change_updates_the_roll_ups_and_the_items_last_update_date(api, portfolio):
    feature, initiative = portfolio["feature"]["_ref"], portfolio["initiative"]["_ref"]
    before = read(api, feature)
    cursor = before["LastUpdateDate"]
    assert found_after(api, "portfolioitem/feature", cursor, portfolio["marker"]) == set()

    update(api, portfolio["todo"]["_ref"], "HierarchicalRequirement", ScheduleState="Accepted")

    after = read(api, feature)
    assert after["AcceptedLeafStoryCount"] == 3 and after["PercentDoneByStoryCount"] == 1
    assert after["AcceptedLeafStoryPlanEstimateTotal"] == 10
    assert after["LastUpdateDate"] > cursor
    assert int(after["_objectVersion"]) == int(before["_objectVersion"]) + 1
    marker = portfolio["marker"]
    assert found_after(api, "portfolioitem/feature", cursor, marker) == {f"{marker} feature"}
    assert found_after(api, "portfolioitem", cursor, marker) == {
        f"{marker} feature",
        f"{marker} initiative",
    }
    assert read(api, initiative)["PercentDoneByStoryCount"] == 1


def test_a_story_change_that_leaves_the_figures_alone_does_not_touch_the_feature(api, portfolio):
    before = read(api, portfolio["feature"]["_ref"])
    update(api, portfolio["todo"]["_ref"], "HierarchicalRequirement", Name="renamed, same sums")
    after = read(api, portfolio["feature"]["_ref"])
    assert after["LastUpdateDate"] == before["LastUpdateDate"]
    assert after["_objectVersion"] == before["_objectVersion"]


def test_moving_adding_and_deleting_stories_update_the_features_involved(api, portfolio):
    marker = portfolio["marker"]
    other = create(api, "PortfolioItem/Feature", Name=f"{marker} other")
    update(api, portfolio["done"]["_ref"], "HierarchicalRequirement", PortfolioItem=other["_ref"])
    assert rollups(api, other["_ref"])["LeafStoryCount"] == 1
    assert rollups(api, other["_ref"])["PercentDoneByStoryCount"] == 1
    moved_from = rollups(api, portfolio["feature"]["_ref"])
    assert moved_from["LeafStoryCount"] == 2 and moved_from["AcceptedLeafStoryCount"] == 1

    # A child under the leaf "todo" makes it a parent: the child counts instead of it.
    create(api, "HierarchicalRequirement", Name=f"{marker} grandchild",
           Parent=portfolio["todo"]["_ref"], PlanEstimate=1)  # fmt: skip
    figures = rollups(api, portfolio["feature"]["_ref"])
    assert figures["LeafStoryCount"] == 2 and figures["LeafStoryPlanEstimateTotal"] == 3

    cursor = read(api, portfolio["feature"]["_ref"])["LastUpdateDate"]
    assert api.delete(portfolio["child"]["_ref"]).json()["OperationResult"]["Errors"] == []
    figures = rollups(api, portfolio["feature"]["_ref"])
    # The parent story lost its only child and is a leaf again.
    assert figures["LeafStoryCount"] == 2 and figures["LeafStoryPlanEstimateTotal"] == 9
    assert figures["AcceptedLeafStoryCount"] == 0 and figures["PercentDoneByStoryCount"] == 0
    assert found_after(api, "portfolioitem/feature", cursor, marker) == {f"{marker} feature"}


def test_moving_a_feature_updates_both_initiatives(api, portfolio):
    marker = portfolio["marker"]
    second = create(api, "PortfolioItem/Initiative", Name=f"{marker} second initiative")
    cursor = read(api, portfolio["initiative"]["_ref"])["LastUpdateDate"]
    update(api, portfolio["feature"]["_ref"], "PortfolioItem/Feature", Parent=second["_ref"])
    assert rollups(api, second["_ref"])["LeafStoryCount"] == 3
    assert rollups(api, portfolio["initiative"]["_ref"])["LeafStoryCount"] == 0
    assert found_after(api, "portfolioitem/initiative", cursor, marker) == {
        f"{marker} initiative",
        f"{marker} second initiative",
    }


def test_a_state_after_accepted_counts_as_accepted(rally_sandbox, api):
    workspace = api.get(f"{api.base}/workspace", params={"query": "(Name = Operations)"}).json()[
        "QueryResult"
    ]["Results"][0]["_ref"]
    marker = f"released-{uuid.uuid4().hex[:6]}"

    def make(type_path: str, **fields) -> dict:
        response = api.post(
            f"{api.base}/{type_path}/create",
            params={"workspace": workspace},
            json={type_path: fields},
        ).json()
        assert response["CreateResult"]["Errors"] == [], response
        return response["CreateResult"]["Object"]

    feature = make("PortfolioItem/Feature", Name=f"{marker} feature")
    make("HierarchicalRequirement", Name=f"{marker} shipped", PortfolioItem=feature["_ref"],
         PlanEstimate=4, ScheduleState="Released")  # fmt: skip
    make("HierarchicalRequirement", Name=f"{marker} idea", PortfolioItem=feature["_ref"],
         PlanEstimate=4, ScheduleState="Idea")  # fmt: skip
    figures = rollups(api, feature["_ref"])
    delete_marked(api, marker, workspace)
    assert figures["AcceptedLeafStoryCount"] == 1
    assert figures["PercentDoneByStoryPlanEstimate"] == 0.5
