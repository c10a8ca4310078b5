"""Writes: create, update, delete, ranks, batch updates, custom fields and Rally's side effects."""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.sandbox_only


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def create(api, type_path: str, fetch: str | None = "true", **fields) -> dict:
    root = type_path.split("/")[-1]
    params = {"fetch": fetch} if fetch else {}
    response = api.post(
        f"{api.base}/{type_path.lower()}/create", json={root: fields}, params=params
    )
    result = response.json()["CreateResult"]
    assert result["Errors"] == [], result["Errors"]
    return result["Object"]


def update(api, obj: dict, **fields) -> dict:
    root = obj["_type"].split("/")[-1]
    result = api.post(obj["_ref"], json={root: fields}).json()["OperationResult"]
    assert result["Errors"] == [], result["Errors"]
    return result["Object"]


def test_create_without_fetch_returns_the_ref_and_version_only(api):
    obj = create(api, "HierarchicalRequirement", fetch=None, Name="bare")
    assert set(obj) == {
        "_rallyAPIMajor",
        "_rallyAPIMinor",
        "_ref",
        "_refObjectUUID",
        "_refObjectName",
        "_objectVersion",
        "_type",
    }
    assert obj["_objectVersion"] == "1"


def test_formatted_ids_count_up_per_type(api):
    first = create(api, "Defect", Name="d1", Severity="Minor Problem")
    second = create(api, "Defect", Name="d2", Severity="Minor Problem")
    assert int(second["FormattedID"][2:]) == int(first["FormattedID"][2:]) + 1
    task = create(api, "Task", Name="t", WorkProduct=first["_ref"])
    assert task["FormattedID"].startswith("TA")
    assert first["State"] == "Submitted" and first["OpenedDate"] is not None


def test_update_bumps_the_version_and_last_update_date_and_ignores_identity_fields(api):
    story = create(api, "HierarchicalRequirement", Name="versioned")
    time.sleep(0.01)
    changed = update(
        api, story, Name="versioned 2", ObjectID=story["ObjectID"], FormattedID=story["FormattedID"]
    )
    assert changed["Name"] == "versioned 2"
    assert changed["_objectVersion"] == changed["VersionId"] == "2"
    assert changed["LastUpdateDate"] > story["LastUpdateDate"]
    assert changed["CreationDate"] == story["CreationDate"]


def test_schedule_state_changes_set_in_progress_and_accepted_dates(api):
    story = create(api, "HierarchicalRequirement", Name="flow")
    assert story["InProgressDate"] is None and story["ScheduleStatePrefix"] == "D"
    started = update(api, story, ScheduleState="In-Progress")
    assert started["InProgressDate"] is not None and started["ScheduleStatePrefix"] == "P"
    accepted = update(api, story, ScheduleState="Accepted")
    assert accepted["AcceptedDate"] is not None
    reopened = update(api, story, ScheduleState="Completed")
    assert reopened["AcceptedDate"] is None


def test_the_portfolio_hierarchy_links_parent_and_children(api):
    marker = uuid.uuid4().hex[:6]
    theme = create(api, "PortfolioItem/Theme", Name=f"{marker} theme")
    initiative = create(api, "PortfolioItem/Initiative", Name=f"{marker} ini", Parent=theme["_ref"])
    feature = create(
        api,
        "PortfolioItem/Feature",
        Name=f"{marker} feat",
        Parent=initiative["_ref"],
        State="Developing",
    )
    story = create(
        api, "HierarchicalRequirement", Name=f"{marker} story", PortfolioItem=feature["_ref"]
    )
    child = create(api, "HierarchicalRequirement", Name=f"{marker} child", Parent=story["_ref"])
    assert feature["State"]["_refObjectName"] == "Developing"
    assert feature["StateChangedDate"] is not None
    assert story["Feature"]["_ref"] == feature["_ref"]
    assert child["HasParent"] is True
    assert child["Feature"]["_ref"] == feature["_ref"]
    assert child["PortfolioItem"] is None
    parent = api.get(story["_ref"]).json()["HierarchicalRequirement"]
    assert parent["DirectChildrenCount"] == 1 and parent["Children"]["Count"] == 1
    children = api.get(initiative["Children"]["_ref"], params={"fetch": "Name"}).json()
    assert [c["Name"] for c in children["QueryResult"]["Results"]] == [f"{marker} feat"]
    wrong = api.post(
        f"{api.base}/portfolioitem/feature/create",
        json={"Feature": {"Name": "x", "Parent": theme["_ref"]}},
    ).json()
    assert wrong["CreateResult"]["Errors"]


def test_a_story_cannot_become_its_own_ancestor(api):
    top = create(api, "HierarchicalRequirement", Name="top")
    below = create(api, "HierarchicalRequirement", Name="below", Parent=top["_ref"])
    result = api.post(top["_ref"], json={"HierarchicalRequirement": {"Parent": below["_ref"]}})
    assert result.json()["OperationResult"]["Errors"] == [
        "Validation error: HierarchicalRequirement.Parent cannot be the story itself or one of "
        "its children"
    ]


def test_custom_fields_are_stored_read_and_queried(api):
    marker = uuid.uuid4().hex[:6]
    story = create(
        api,
        "HierarchicalRequirement",
        Name=f"{marker} custom",
        c_AhaReference=f"APP-{marker}",
        RiskLevel="high",
    )
    assert story["c_AhaReference"] == f"APP-{marker}"
    assert story["c_RiskLevel"] == "High"
    found = api.get(
        f"{api.base}/hierarchicalrequirement",
        params={"query": f'(c_AhaReference = "APP-{marker}")'},
    ).json()
    assert found["QueryResult"]["TotalResultCount"] == 1
    bad = api.post(
        f"{api.base}/hierarchicalrequirement/create",
        json={"HierarchicalRequirement": {"Name": "x", "c_RiskLevel": "Extreme"}},
    ).json()
    assert 'Risk Level has an invalid value "Extreme"' in bad["CreateResult"]["Errors"][0]


def test_delete_removes_the_object_and_its_tasks(api):
    story = create(api, "HierarchicalRequirement", Name="to delete")
    task = create(api, "Task", Name="goes too", WorkProduct=story["_ref"])
    assert api.delete(story["_ref"]).json()["OperationResult"]["Errors"] == []
    for ref in (story["_ref"], task["_ref"]):
        assert api.get(ref).json()["OperationResult"]["Errors"] == ["Cannot find object to read"]


def test_rank_above_below_and_to_top(api):
    first = create(api, "HierarchicalRequirement", Name="rank 1")
    second = create(api, "HierarchicalRequirement", Name="rank 2")
    moved = api.post(
        second["_ref"],
        params={"rankAbove": first["_ref"]},
        json={"hierarchicalrequirement": {"_ref": second["_ref"]}},
    ).json()
    rank = moved["OperationResult"]["Object"]["DragAndDropRank"]
    assert rank < api.get(first["_ref"]).json()["HierarchicalRequirement"]["DragAndDropRank"]
    top = api.post(first["_ref"], params={"rankTo": "TOP"}, data=b"").json()["OperationResult"]
    assert top["Errors"] == []


def test_batch_creates_and_updates_in_one_request(api):
    story = create(api, "HierarchicalRequirement", Name="batch target")
    oid = story["ObjectID"]
    body = {
        "Batch": [
            {
                "Entry": {
                    "Path": "/hierarchicalrequirement/create",
                    "Method": "PUT",
                    "Body": {"hierarchicalrequirement": {"Name": "batch new"}},
                }
            },
            {
                "Entry": {
                    "Path": f"/hierarchicalrequirement/{oid}",
                    "Method": "POST",
                    "Body": {"hierarchicalrequirement": {"Name": "batch renamed"}},
                }
            },
            {"Entry": {"Path": f"/hierarchicalrequirement/{oid}", "Method": "GET"}},
        ]
    }
    results = api.post(f"{api.base}/batch", json=body, params={"fetch": "FormattedID,Name"}).json()
    created, updated, read = results["BatchResult"]["Results"]
    assert created["Object"]["Name"] == "batch new"
    assert updated["Object"]["Name"] == "batch renamed"
    assert read["Object"]["Name"] == "batch renamed"


def test_releases_iterations_projects_and_tags_can_be_created(api):
    release = create(
        api,
        "Release",
        Name="R9",
        ReleaseStartDate="2027-01-01T00:00:00.000Z",
        ReleaseDate="2027-03-31T23:59:59.000Z",
        State="Planning",
    )
    assert release["Project"]["_refObjectName"] == "Platform"
    missing = api.post(f"{api.base}/iteration/create", json={"Iteration": {"Name": "I"}}).json()
    assert (
        "Validation error: Iteration.Start Date should not be null"
        in missing["CreateResult"]["Errors"]
    )
    platform = release["Project"]["_ref"]
    project = create(api, "Project", Name=f"Team {uuid.uuid4().hex[:4]}", Parent=platform)
    assert project["Parent"]["_ref"] == platform and project["State"] == "Open"
    # Projects cannot be deleted; closed, this one stays out of other tests' project trees.
    closed = api.post(project["_ref"], json={"Project": {"State": "Closed"}}).json()
    assert closed["OperationResult"]["Errors"] == []
    story = create(
        api,
        "HierarchicalRequirement",
        Name="tagged",
        Tags=[{"Name": "brand-new-tag"}],
        Release=release["_ref"],
    )
    assert story["Tags"]["_tagsNameArray"][0]["Name"] == "brand-new-tag"
    assert story["Release"]["_refObjectName"] == "R9"


def test_the_workspace_or_project_in_the_body_decides_where_a_story_goes(api):
    found = api.get(f"{api.base}/workspace", params={"query": "(Name = Operations)"}).json()
    operations = found["QueryResult"]["Results"][0]["_ref"]
    story = create(api, "HierarchicalRequirement", Name="placed by its body", Workspace=operations)
    assert story["Workspace"]["_refObjectName"] == "Operations"
    assert story["Project"]["_refObjectName"] == "Support"
    moved = api.post(story["_ref"], json={"HierarchicalRequirement": {"Workspace": None}}).json()
    assert moved["OperationResult"]["Errors"] == []


def test_every_change_is_written_to_the_revision_history(api):
    story = create(api, "HierarchicalRequirement", Name="history")
    user = api.get(f"{api.base}/user").json()["User"]
    update(api, story, Name="history 2", ScheduleState="In-Progress", Owner=user["_ref"])
    update(api, story, Owner=None, PlanEstimate=3)
    tag = create(api, "Tag", Name=f"hist-{uuid.uuid4().hex[:4]}")
    api.post(f"{story['Tags']['_ref']}/add", json={"CollectionItems": [{"_ref": tag["_ref"]}]})

    history = api.get(story["RevisionHistory"]["_ref"]).json()["RevisionHistory"]
    assert history["_type"] == "RevisionHistory"
    revisions = api.get(history["Revisions"]["_ref"], params={"fetch": "true"}).json()
    items = revisions["QueryResult"]["Results"]
    assert [r["RevisionNumber"] for r in items] == [0, 1, 2, 3]
    assert [r["Description"] for r in items] == [
        "Original revision",
        "NAME changed from [history] to [history 2], SCHEDULE STATE changed from [Defined] to "
        f"[In-Progress], OWNER added [{user['_refObjectName']}]",
        f"OWNER removed [{user['_refObjectName']}], PLAN ESTIMATE added [3]",
        f"TAGS added [{tag['Name']}]",
    ]
    assert items[1]["User"]["_refObjectName"] == user["_refObjectName"]
    assert items[1]["RevisionHistory"]["_ref"] == history["_ref"]


def test_a_create_takes_its_place_above_another_or_creates_nothing(api):
    first = create(api, "HierarchicalRequirement", Name="ranked first")
    made = api.post(
        f"{api.base}/hierarchicalrequirement/create",
        params={"rankAbove": first["_ref"], "fetch": "DragAndDropRank,Name"},
        json={"HierarchicalRequirement": {"Name": "created above"}},
    ).json()["CreateResult"]
    assert made["Errors"] == []
    above = api.get(first["_ref"]).json()["HierarchicalRequirement"]["DragAndDropRank"]
    assert made["Object"]["DragAndDropRank"] < above

    refused = api.post(
        f"{api.base}/hierarchicalrequirement/create",
        params={"rankBelow": "/hierarchicalrequirement/999999999"},
        json={"HierarchicalRequirement": {"Name": "ranked beside nothing"}},
    ).json()["CreateResult"]
    assert "Cannot find object to rank relative to" in refused["Errors"][0]
    found = api.get(
        f"{api.base}/hierarchicalrequirement", params={"query": '(Name = "ranked beside nothing")'}
    ).json()["QueryResult"]
    assert found["TotalResultCount"] == 0
