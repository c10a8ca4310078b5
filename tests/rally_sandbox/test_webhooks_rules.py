"""Webhook rules and delivery encoding as plain functions: every operator, every value type."""

from __future__ import annotations

import pytest

from rally_sandbox.pigeon.matcher import (
    RuleError,
    normalise_expressions,
    rule_matches,
    type_matches,
)
from rally_sandbox.pigeon.payload import attribute_id, build_message, encode

pytestmark = pytest.mark.sandbox_only

BASE = "http://127.0.0.1:8001"
WS = f"{BASE}/slm/webservice/v2.0"
PROJECT_UUID = "75b17c81-d104-4b56-8ca8-1f9c61387d80"
PARENT_UUID = "11111111-2222-3333-4444-555555555555"
STORY = {
    "_ref": f"{WS}/hierarchicalrequirement/700",
    "_refObjectUUID": "4c9107c0-d7ce-44de-b50b-9e018b50dcaa",
    "_type": "HierarchicalRequirement",
    "ObjectID": 700,
    "ObjectUUID": "4c9107c0-d7ce-44de-b50b-9e018b50dcaa",
    "FormattedID": "US7",
    "Name": "Checkout",
    "PlanEstimate": 8,
    "ScheduleState": "In-Progress",
    "Blocked": False,
    "Description": "<p>Pay</p>",
    "VersionId": "4",
    "LastUpdateDate": "2026-11-28T10:00:00.000Z",
    "Owner": None,
    "Project": {
        "_ref": f"{WS}/project/300",
        "_refObjectUUID": PROJECT_UUID,
        "_refObjectName": "Platform",
        "_type": "Project",
    },
    "Tags": {
        "_ref": f"{WS}/HierarchicalRequirement/700/Tags",
        "_type": "Tag",
        "Count": 1,
        "_tagsNameArray": [{"Name": "urgent", "_ref": "/tag/55"}],
    },
    "c_RiskLevel": "High",
}


def matches(*expressions, types=("HierarchicalRequirement",), changes=None, state=STORY):
    return rule_matches(
        object_types=list(types),
        expressions=normalise_expressions(list(expressions)),
        type_name=state["_type"],
        state=state,
        changes=changes or {},
        project_uuids=[PROJECT_UUID, PARENT_UUID],
    )


def expr(name, operator, value=None):
    return {"AttributeName": name, "Operator": operator, "Value": value}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (expr("Name", "=", "Checkout"), True),
        (expr("Name", "=", "checkout"), False),
        (expr("Name", "!=", "Other"), True),
        (expr("PlanEstimate", ">", 5), True),
        (expr("PlanEstimate", ">", "8"), False),
        (expr("PlanEstimate", ">=", 8), True),
        (expr("PlanEstimate", "<", 10), True),
        (expr("PlanEstimate", "<=", 7.5), False),
        (expr("ScheduleState", ">", "Defined"), True),
        (expr("ScheduleState", "<", "Completed"), True),
        (expr("ScheduleState", ">=", "Accepted"), False),
        (expr("ScheduleState", "~", "Completed, In-Progress"), True),
        (expr("ScheduleState", "!~", "Completed,Accepted"), True),
        (expr("ScheduleState", "~", ["Defined", "Accepted"]), False),
        (expr("Blocked", "=", False), True),
        (expr("Blocked", "=", "true"), False),
        (expr("Owner", "=", None), True),
        (expr("Owner", "has"), False),
        (expr("Tags", "has"), True),
        (expr("c_RiskLevel", "=", "High"), True),
        (expr("Project", "=", PROJECT_UUID.upper()), True),
        (expr("Project", "=", "300"), True),
        (expr("Project", "=", "Platform"), True),
        (expr("Project", "=", PARENT_UUID), False),
        (expr("NoSuchField", "=", "x"), False),
        ({"Operator": "project", "Value": PARENT_UUID}, True),
        ({"Operator": "project", "Value": "99999999-2222-3333-4444-555555555555"}, False),
        (
            {
                "AttributeID": "500a0d67-9c48-4145-920c-821033e4a832",
                "Operator": "=",
                "Value": "Checkout",
            },
            True,
        ),
    ],
)
def test_each_operator_compares_as_rally_does(expression, expected):
    assert matches(expression) is expected


def test_expressions_are_anded():
    assert matches(expr("PlanEstimate", ">", 5), expr("Name", "=", "Checkout"))
    assert not matches(expr("PlanEstimate", ">", 5), expr("Name", "=", "Other"))


def test_changed_and_changed_to_look_at_the_change_set():
    changes = {"ScheduleState": ("Defined", "In-Progress")}
    assert matches(expr("ScheduleState", "changed"), changes=changes)
    assert not matches(expr("Name", "changed"), changes=changes)
    assert matches(expr("ScheduleState", "changed-to", "In-Progress"), changes=changes)
    assert not matches(expr("ScheduleState", "changed-to", "Defined"), changes=changes)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([], True),
        (["HierarchicalRequirement"], True),
        (["UserStory"], True),
        (["hierarchicalrequirement"], True),
        (["Defect", "Task"], False),
    ],
)
def test_object_types_name_the_type_in_any_of_rallys_spellings(types, expected):
    assert type_matches(types, "HierarchicalRequirement") is expected


def test_portfolio_items_match_by_their_short_name():
    assert type_matches(["Feature"], "PortfolioItem/Feature")
    assert not type_matches(["Initiative"], "PortfolioItem/Feature")


@pytest.mark.parametrize(
    ("expressions", "message"),
    [
        ("Name = x", "list"),
        ([{"AttributeName": "Name", "Operator": "like", "Value": "x"}], "Operator"),
        ([{"Operator": "=", "Value": "x"}], "AttributeName"),
        ([{"AttributeName": "Name", "Operator": ">"}], "Value"),
        ([{"AttributeName": "Project", "Operator": "project", "Value": "x"}], "project"),
        ([{"AttributeName": "Name", "Operator": "=", "Value": {"a": 1}}], "Value"),
        ([{"AttributeName": "Name", "Operator": "=", "Value": "x", "Extra": 1}], "Extra"),
    ],
)
def test_bad_expressions_are_refused_with_a_reason(expressions, message):
    with pytest.raises(RuleError, match=message):
        normalise_expressions(expressions)


def test_expressions_are_echoed_with_all_four_keys():
    assert normalise_expressions([{"AttributeName": "Name", "Operator": "changed"}]) == [
        {"AttributeID": None, "AttributeName": "Name", "Operator": "changed", "Value": None}
    ]


def test_values_are_encoded_by_attribute_type():
    assert encode("HierarchicalRequirement", "PlanEstimate", 8, base_url=BASE)["value"] == {
        "value": 8.0,
        "units": "Points",
    }
    assert encode("Task", "ToDo", 2, base_url=BASE)["value"] == {"value": 2.0, "units": "Hours"}
    severity = encode("Defect", "Severity", "Major Problem", base_url=BASE)
    assert (severity["type"], severity["value"]) == (
        "Rating",
        {"value": "Major Problem", "ordinal_index": 2},
    )
    defect_state = encode("Defect", "State", "Open", base_url=BASE)["value"]
    assert defect_state == {"value": "Open", "ordinal_index": 2}
    schedule = encode("HierarchicalRequirement", "ScheduleState", "In-Progress", base_url=BASE)
    assert schedule["type"] == "State"
    assert schedule["value"]["order_index"] == 2
    assert encode("HierarchicalRequirement", "VersionId", "4", base_url=BASE)["value"] == 4
    assert encode("HierarchicalRequirement", "Description", "<p>x</p>", base_url=BASE)["type"] == (
        "Text"
    )


def test_refs_become_v2x_uuid_refs_on_the_given_host():
    other_host = {
        **STORY["Project"],
        "_ref": "http://rally-sandbox.invalid/slm/webservice/v2.0/project/300",
    }
    project = encode("HierarchicalRequirement", "Project", other_host, base_url=BASE)
    assert project["type"] == "Project"
    assert project["value"] == {
        "name": "Platform",
        "ref": f"{BASE}/slm/webservice/v2.x/project/{PROJECT_UUID}",
        "detail_link": f"{BASE}/slm/#/detail/project/300",
        "id": PROJECT_UUID,
        "object_type": "Project",
    }


def test_a_message_keys_state_and_changes_by_attribute_uuid():
    message = build_message(
        action="Updated",
        state=STORY,
        changes={"PlanEstimate": (5, 8), "Name": ("Old", "Checkout")},
        actor={"uuid": "u-1", "username": "pm@example.com", "email": "pm@example.com"},
        subscription_id=209,
        message_id="m-1",
    )
    name_id = "500a0d67-9c48-4145-920c-821033e4a832"
    assert message["state"][name_id]["value"] == "Checkout"
    assert message["changes"][name_id]["old_value"] == "Old"
    estimate = message["changes"][attribute_id("HierarchicalRequirement", "PlanEstimate")]
    assert estimate["old_value"] == {"value": 5.0, "units": "Points"}
    version = message["changes"]["f5b1fb22-6c15-44b5-a592-19189fafe5f2"]
    assert (version["old_value"], version["value"]) == (3, 4)
    assert message["project"] == {"uuid": PROJECT_UUID, "name": "Platform"}
    assert message["object_type"] == "HierarchicalRequirement"
    assert message["transaction"]["user"]["username"] == "pm@example.com"


def test_a_created_message_has_no_changes():
    message = build_message(
        action="Created",
        state=STORY,
        changes={"Name": ("a", "b")},
        actor=None,
        subscription_id=209,
        message_id="m-2",
    )
    assert message["changes"] == {}


def test_custom_fields_get_stable_ids_of_their_own():
    first = attribute_id("HierarchicalRequirement", "c_RiskLevel")
    assert first == attribute_id("Defect", "c_RiskLevel")
    assert first != attribute_id("HierarchicalRequirement", "c_Other")
    assert first != attribute_id("PortfolioItem/Feature", "c_RiskLevel")
