"""Rally-shaped deliveries to a real receiver: what each change sends, and which rules match."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.rally_sandbox.webhooks.support import (
    NAME_ID,
    OBJECT_ID,
    PLAN_ESTIMATE_ID,
    SAMPLES,
    TEAM_A,
    TIMEOUT,
    VERSION_ID,
    by_name,
    create,
    delete,
    project,
    update,
)

pytestmark = pytest.mark.sandbox_only


def test_a_created_story_is_delivered_in_rallys_shape(sandbox, api, hook, receiver):
    path, webhook = hook()
    name = f"Created {uuid.uuid4().hex[:6]}"
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": name, "PlanEstimate": 3})

    (body,) = receiver.wait_for(path, 1)

    sample = json.loads((SAMPLES / "webhook-delivery-created-investment.json").read_text())
    assert set(body) == set(sample)
    assert set(body["message"]) == set(sample["message"])
    assert set(sample["rule"]) <= set(body["rule"])
    message = body["message"]
    assert message["action"] == "Created"
    assert message["changes"] == {}
    assert message["object_type"] == "HierarchicalRequirement"
    assert message["id"] == message["object_id"] == story["_refObjectUUID"]
    assert message["ref"] == (
        f"{sandbox.base_url}/slm/webservice/v2.x/hierarchicalrequirement/{story['_refObjectUUID']}"
    )
    assert message["detail_link"].endswith(f"/slm/#/detail/userstory/{story['ObjectID']}")
    assert message["project"]["name"] == "Platform"
    assert message["transaction"]["user"]["username"] == "admin@example.com"
    assert message["state"][NAME_ID]["value"] == name
    assert message["state"][OBJECT_ID]["value"] == story["ObjectID"]
    assert message["state"][PLAN_ESTIMATE_ID]["value"] == {"value": 3.0, "units": "Points"}
    project_value = by_name(message["state"])["Project"]["value"]
    assert project_value["object_type"] == "Project"
    assert project_value["ref"].startswith(f"{sandbox.base_url}/slm/webservice/v2.x/project/")
    assert body["rule"]["ObjectUUID"] == webhook["ObjectUUID"]
    assert body["rule"]["_type"] == "webhook"


def test_a_story_created_with_tags_is_delivered_with_them(sandbox, api, hook, receiver):
    # A Created payload skips the queries for what a new artifact cannot have yet (tasks,
    # children, posts), but not the Tags its create named.
    path, _ = hook()
    tag = f"tag-{uuid.uuid4().hex[:6]}"
    create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {"Name": "Tagged at birth", "Tags": [{"Name": tag}]},
    )

    (body,) = receiver.wait_for(path, 1)
    state = by_name(body["message"]["state"])
    assert [member["name"] for member in state["Tags"]["value"]] == [tag]


def test_an_update_is_delivered_with_the_changed_fields_and_old_values(
    sandbox, api, hook, receiver
):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Before", "PlanEstimate": 2})
    path, _ = hook()

    update(sandbox, api, story, {"Name": "After", "PlanEstimate": 5})

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["action"] == "Updated"
    changes = message["changes"]
    assert changes[NAME_ID]["old_value"] == "Before"
    assert changes[NAME_ID]["value"] == "After"
    assert changes[PLAN_ESTIMATE_ID]["old_value"] == {"value": 2.0, "units": "Points"}
    assert changes[PLAN_ESTIMATE_ID]["value"] == {"value": 5.0, "units": "Points"}
    assert changes[VERSION_ID]["value"] == changes[VERSION_ID]["old_value"] + 1
    assert {entry["added"] for entry in changes.values()} == {None}
    assert message["state"][NAME_ID]["value"] == "After"


def test_a_tag_added_is_delivered_as_a_collection_change(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Tagged"})
    tag = create(sandbox, api, "Tag", {"Name": f"tag-{uuid.uuid4().hex[:6]}"})
    path, _ = hook()

    answer = api.post(f"{story['_ref']}/Tags/add", json={"Tags": [{"_ref": tag["_ref"]}]})
    assert answer.json()["OperationResult"]["Errors"] == []

    (body,) = receiver.wait_for(path, 1)
    tags = by_name(body["message"]["changes"])["Tags"]
    assert tags["type"] == "Collection"
    assert [added["name"] for added in tags["added"]] == [tag["Name"]]
    assert tags["removed"] is None


def test_a_multi_value_drop_down_change_is_delivered_as_a_collection_change(
    sandbox, api, hook, receiver
):
    typedef = api.get(
        f"{sandbox.wsapi_url}/typedefinition",
        params={"query": '(ElementName = "Feature")', "fetch": "ObjectID"},
    ).json()["QueryResult"]["Results"][0]
    attributes = api.get(
        f"{sandbox.wsapi_url}/TypeDefinition/{typedef['ObjectID']}/Attributes",
        params={"fetch": "true", "pagesize": 200},
    ).json()["QueryResult"]["Results"]
    platforms = next(a for a in attributes if a["ElementName"] == "c_Platforms")
    values = api.get(platforms["AllowedValues"]["_ref"], params={"fetch": "true"}).json()
    refs = {v["StringValue"]: v["_ref"] for v in values["QueryResult"]["Results"]}
    feature = create(
        sandbox, api, "PortfolioItem/Feature", {"Name": "Ships", "c_Platforms": [refs["Web"]]}
    )
    path, _ = hook(ObjectTypes=["Feature"])

    update(sandbox, api, feature, {"c_Platforms": [{"_ref": refs["iOS"]}]})

    (body,) = receiver.wait_for(path, 1)
    change = by_name(body["message"]["changes"])["c_Platforms"]
    assert change["type"] == "Collection"
    assert [item["name"] for item in change["added"]] == ["iOS"]
    assert [item["name"] for item in change["removed"]] == ["Web"]


def test_a_delete_is_delivered_with_the_last_state(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Doomed"})
    path, _ = hook()

    delete(api, story)

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["action"] == "Deleted"
    assert message["object_id"] == story["_refObjectUUID"]
    assert message["state"][NAME_ID]["value"] == "Doomed"
    assert message["state"][OBJECT_ID]["value"] == story["ObjectID"]


def test_a_portfolio_item_is_delivered_under_its_short_type_name(sandbox, api, hook, receiver):
    path, _ = hook(ObjectTypes=["Feature"])
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Not a feature"})
    feature = create(sandbox, api, "PortfolioItem/Feature", {"Name": "Checkout revamp"})

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["object_type"] == "Feature"
    assert message["object_id"] == feature["_refObjectUUID"]
    assert "/slm/webservice/v2.x/portfolioitem/feature/" in message["ref"]
    assert message["detail_link"].endswith(f"/portfolioitem/feature/{feature['ObjectID']}")
    assert message["state"][NAME_ID]["value"] == "Checkout revamp"


def test_a_portfolio_item_state_change_carries_the_states_order(sandbox, api, hook, receiver):
    feature = create(sandbox, api, "PortfolioItem/Feature", {"Name": "Stateful"})
    (developing,) = api.get(
        f"{sandbox.wsapi_url}/state",
        params={
            "query": '((TypeDef.Name = "Feature") AND (Name = "Developing"))',
            "fetch": "Name,OrderIndex",
        },
        timeout=TIMEOUT,
    ).json()["QueryResult"]["Results"]
    path, _ = hook(ObjectTypes=["Feature"])

    update(sandbox, api, feature, {"State": developing["_ref"]})

    (body,) = receiver.wait_for(path, 1)
    change = by_name(body["message"]["changes"])["State"]
    assert change["type"] == "State"
    assert change["value"]["name"] == "Developing"
    assert change["value"]["order_index"] == developing["OrderIndex"]
    assert change["value"]["object_type"] == "State"


def test_only_changes_matching_the_expressions_are_delivered(sandbox, api, hook, receiver):
    path, _ = hook(
        ObjectTypes=["HierarchicalRequirement"],
        Expressions=[{"AttributeName": "PlanEstimate", "Operator": ">", "Value": 10}],
    )
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Small", "PlanEstimate": 3})
    create(
        sandbox,
        api,
        "Task",
        {
            "Name": "Task",
            "WorkProduct": create(
                sandbox, api, "HierarchicalRequirement", {"Name": "Parent", "PlanEstimate": 1}
            )["_ref"],
        },
    )
    big = create(sandbox, api, "HierarchicalRequirement", {"Name": "Big", "PlanEstimate": 13})

    (body,) = receiver.wait_for(path, 1)
    # Deliveries are queued in commit order: had the others matched, they would be first.
    assert body["message"]["object_id"] == big["_refObjectUUID"]
    assert len(receiver.bodies(path)) == 1


def test_the_project_operator_matches_the_project_and_its_children(sandbox, api, hook, receiver):
    platform = project(sandbox, api, "Platform")
    path, _ = hook(Expressions=[{"Operator": "project", "Value": platform["_refObjectUUID"]}])

    create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {"Name": "Mobile story", "Project": project(sandbox, api, "Mobile")["_ref"]},
    )
    child = create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {
            "Name": "Team A story",
            "Project": project(sandbox, api, TEAM_A)["_ref"],
        },
    )

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == child["_refObjectUUID"]


def test_the_changed_operator_fires_only_when_that_field_changed(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Watch me"})
    path, _ = hook(Expressions=[{"AttributeName": "ScheduleState", "Operator": "changed"}])

    update(sandbox, api, story, {"Name": "Renamed only"})
    update(sandbox, api, story, {"ScheduleState": "In-Progress"})

    (body,) = receiver.wait_for(path, 1)
    state_change = by_name(body["message"]["changes"])["ScheduleState"]
    assert state_change["value"]["name"] == "In-Progress"
    assert state_change["old_value"]["name"] == "Defined"
    assert "Name" not in by_name(body["message"]["changes"])


def test_an_expression_may_name_its_attribute_by_id(sandbox, api, hook, receiver):
    path, _ = hook(Expressions=[{"AttributeID": NAME_ID, "Operator": "=", "Value": "By id"}])
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Not this"})
    wanted = create(sandbox, api, "HierarchicalRequirement", {"Name": "By id"})

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == wanted["_refObjectUUID"]


def test_a_post_and_an_attachment_are_delivered_as_updates_of_their_artifact(
    sandbox, api, hook, receiver
):
    """Our choice where no source says (rally_sandbox/wsapi/discussion.py): the artifact's
    webhooks hear an "Updated" whose change names the collection and the member added."""
    path, _webhook = hook()
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Discussed"})
    receiver.wait_for(path, 1)  # its creation
    text = {"Artifact": story["_ref"], "Text": "<p>Hi</p>"}
    post = create(sandbox, api, "ConversationPost", text)
    encoded = {"Content": base64.b64encode(b"x").decode()}
    content = create(sandbox, api, "AttachmentContent", encoded)
    attachment = create(
        sandbox, api, "Attachment",
        {"Name": "x.txt", "Content": content["_ref"], "Size": 1, "Artifact": story["_ref"]},
    )  # fmt: skip
    delete(api, post)

    bodies = receiver.wait_for(path, 4)[1:]
    changes = [by_name(body["message"]["changes"]) for body in bodies]
    assert [body["message"]["action"] for body in bodies] == ["Updated"] * 3
    assert [body["message"]["object_id"] for body in bodies] == [story["_refObjectUUID"]] * 3
    discussion, attachments, removed = changes
    assert discussion["Discussion"]["added"][0]["ref"].endswith(post["_refObjectUUID"])
    assert attachments["Attachments"]["added"][0]["ref"].endswith(attachment["_refObjectUUID"])
    assert removed["Discussion"]["removed"][0]["ref"].endswith(post["_refObjectUUID"])


def test_a_post_s_edit_is_delivered_as_an_update_of_its_artifact(sandbox, api, hook, receiver):
    """Our choice, as for a new post: an "Updated" of the artifact naming its Discussion."""
    path, _webhook = hook()
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Edited post"})
    post = create(sandbox, api, "ConversationPost", {"Artifact": story["_ref"], "Text": "<p>a</p>"})
    answer = api.post(
        post["_ref"], json={"ConversationPost": {"Text": "<p>b</p>"}}, timeout=TIMEOUT
    )
    assert answer.json()["OperationResult"]["Errors"] == []

    bodies = receiver.wait_for(path, 3)[1:]
    assert [body["message"]["action"] for body in bodies] == ["Updated"] * 2
    assert [body["message"]["object_id"] for body in bodies] == [story["_refObjectUUID"]] * 2
    assert "Discussion" in by_name(bodies[1]["message"]["changes"])
