"""Required-field rules: an administrator's setting per workspace, type and attribute."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.rally_sandbox.oauth_flow import forms_in
from tests.rally_sandbox.test_faults_page import signed_in

pytestmark = pytest.mark.sandbox_only

RULES = "/sandbox-admin/required-fields"
FEATURE_RULE = {
    "workspace": "Engineering",
    "type": "PortfolioItem/Feature",
    "field": "PlannedEndDate",
}


@pytest.fixture
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


# Names of the features these tests create, so they can be deleted after each test (other tests
# count the workspace's top-level portfolio items).
PREFIX = "rule-test"


@pytest.fixture(autouse=True)
def no_rules_or_features_left(rally_sandbox, api):
    yield
    for rule in rally_sandbox.admin("GET", RULES).json()["required_fields"]:
        rally_sandbox.unrequire_field(rule["type"], rule["field"], rule["workspace"])
    for workspace in ("Engineering", "Operations"):
        found = api.get(
            f"{api.base}/portfolioitem/feature",
            params={
                "query": f'(Name contains "{PREFIX}")',
                "workspace": workspace_ref(api, workspace),
                "pagesize": 2000,
            },
        ).json()["QueryResult"]["Results"]
        for feature in found:
            assert api.delete(feature["_ref"]).json()["OperationResult"]["Errors"] == []


def create_feature(api, name: str, **fields) -> dict:
    response = api.post(
        f"{api.base}/portfolioitem/feature/create",
        json={"PortfolioItem/Feature": {"Name": f"{PREFIX} {name}", **fields}},
    )
    assert response.status_code == 200, response.text
    return response.json()["CreateResult"]


def feature_count(api, name: str) -> int:
    query = f'(Name = "{PREFIX} {name}")'
    found = api.get(f"{api.base}/portfolioitem/feature", params={"query": query})
    return found.json()["QueryResult"]["TotalResultCount"]


def attribute_required(api, type_path: str, element_name: str, workspace: str = "Engineering"):
    """`Required` of one AttributeDefinition, read as a client reads it (the type's Attributes)."""
    found = api.get(
        f"{api.base}/typedefinition",
        params={
            "query": f'(TypePath = "{type_path}")',
            "workspace": workspace_ref(api, workspace),
            "fetch": "Attributes",
        },
    ).json()["QueryResult"]["Results"]
    (typedef,) = found
    attributes = api.get(typedef["Attributes"]["_ref"], params={"pagesize": 2000}).json()
    (attribute,) = [
        a for a in attributes["QueryResult"]["Results"] if a["ElementName"] == element_name
    ]
    return attribute["Required"]


def workspace_ref(api, name: str) -> str:
    found = api.get(f"{api.base}/workspace", params={"query": f'(Name = "{name}")'}).json()
    return found["QueryResult"]["Results"][0]["_ref"]


def test_a_default_workspace_requires_no_more_than_rally_does(api):
    name = f"no end date {uuid.uuid4().hex[:6]}"
    assert create_feature(api, name)["Errors"] == []
    defect = api.post(f"{api.base}/defect/create", json={"Defect": {"Name": name}}).json()
    assert defect["CreateResult"]["Errors"] == []
    assert attribute_required(api, "PortfolioItem/Feature", "PlannedEndDate") is False
    assert attribute_required(api, "Defect", "Severity") is False
    assert attribute_required(api, "Defect", "Name") is True


def test_a_rule_switched_on_through_the_admin_api_is_enforced_and_reported(rally_sandbox, api):
    added = rally_sandbox.admin("POST", RULES, json=FEATURE_RULE)
    assert added.status_code == 201, added.text
    assert added.json() == {**FEATURE_RULE, "name": "Planned End Date"}
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == [added.json()]

    name = f"needs an end date {uuid.uuid4().hex[:6]}"
    refused = create_feature(api, name)
    assert refused["Errors"] == ["Validation error: Feature.Planned End Date should not be null"]
    assert "Object" not in refused
    assert feature_count(api, name) == 0
    assert attribute_required(api, "PortfolioItem/Feature", "PlannedEndDate") is True
    assert create_feature(api, name, PlannedEndDate="2027-03-31")["Errors"] == []

    removed = rally_sandbox.admin("DELETE", RULES, json=FEATURE_RULE)
    assert removed.status_code == 204
    assert create_feature(api, f"{name} again")["Errors"] == []
    assert attribute_required(api, "PortfolioItem/Feature", "PlannedEndDate") is False


def test_a_rule_holds_in_its_own_workspace_only(rally_sandbox, api):
    rally_sandbox.require_field("PortfolioItem/Feature", "PlannedEndDate", workspace="Operations")
    assert attribute_required(api, "PortfolioItem/Feature", "PlannedEndDate", "Operations")
    assert not attribute_required(api, "PortfolioItem/Feature", "PlannedEndDate", "Engineering")
    assert create_feature(api, f"engineering {uuid.uuid4().hex[:6]}")["Errors"] == []


def test_adding_a_rule_twice_keeps_one_and_removing_a_missing_one_is_404(rally_sandbox):
    assert rally_sandbox.admin("POST", RULES, json=FEATURE_RULE).status_code == 201
    # Names are matched as Rally matches them: case-insensitively, element name or type path.
    again = {**FEATURE_RULE, "type": "feature", "field": "plannedenddate"}
    assert rally_sandbox.admin("POST", RULES, json=again).status_code == 200
    assert len(rally_sandbox.admin("GET", RULES).json()["required_fields"]) == 1
    assert rally_sandbox.admin("DELETE", RULES, json=again).status_code == 204
    missing = rally_sandbox.admin("DELETE", RULES, json=FEATURE_RULE)
    assert missing.status_code == 404
    assert "No rule requires PortfolioItem/Feature.PlannedEndDate" in missing.json()["error"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({**FEATURE_RULE, "type": "Epic"}, '"Epic" is not a type whose objects can be created'),
        ({**FEATURE_RULE, "type": "Artifact"}, '"Artifact" is not a type whose objects can'),
        ({**FEATURE_RULE, "field": "Sevrity"}, 'has no attribute "Sevrity"'),
        ({**FEATURE_RULE, "field": "FormattedID"}, "is not set by clients"),
        ({**FEATURE_RULE, "field": "UserStories"}, "is not set by clients"),
        ({**FEATURE_RULE, "field": "Name"}, "PortfolioItem/Feature.Name is always required"),
        ({**FEATURE_RULE, "workspace": "Nowhere"}, 'There is no workspace "Nowhere"'),
        ({"workspace": "Engineering", "type": "Defect"}, "Send {"),
        ({**FEATURE_RULE, "field": 7}, "Name the field"),
        ([], "Send {"),
    ],
)
def test_a_bad_rule_is_refused_with_a_message(rally_sandbox, rule, message):
    answer = rally_sandbox.admin("POST", RULES, json=rule)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == []


def test_the_admin_api_needs_the_admin_key(rally_sandbox):
    answer = requests.post(rally_sandbox.base_url + RULES, json=FEATURE_RULE, timeout=30)
    assert answer.status_code == 403
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == []


def test_the_command_lists_adds_and_removes_rules(rally_sandbox, api):
    listed = rally_sandbox.command("required-fields", "list")
    assert "No required-field rules" in listed.stdout
    added = rally_sandbox.command(
        "required-fields", "add", "Defect", "Severity", "--workspace", "Engineering"
    )
    assert added.stdout.strip() == "Workspace Engineering now requires Defect.Severity."
    assert rally_sandbox.command("required-fields", "list").stdout.splitlines() == [
        "Engineering\tDefect\tSeverity"
    ]
    refused = api.post(f"{api.base}/defect/create", json={"Defect": {"Name": "x"}}).json()
    assert refused["CreateResult"]["Errors"] == [
        "Validation error: Defect.Severity should not be null"
    ]
    removed = rally_sandbox.command(
        "required-fields", "remove", "Defect", "Severity", "--workspace", "Engineering"
    )
    assert removed.stdout.strip() == "Workspace Engineering no longer requires Defect.Severity."
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Defect", "Sevrity", "--workspace", "Engineering"], 'no attribute "Sevrity"'),
        (["add", "Bogus", "Name", "--workspace", "Engineering"], '"Bogus" is not a type'),
        # Two workspaces: the command will not guess which one.
        (["add", "Defect", "Severity"], "Name the workspace: one of Engineering, Operations"),
        (["remove", "Defect", "Severity", "--workspace", "Engineering"], "No rule requires"),
        (["add", "Defect"], "needs <Type> <Field>"),
    ],
)
def test_the_command_refuses_bad_input_with_a_message(rally_sandbox, args, message):
    result = rally_sandbox.command("required-fields", *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == []


def form_posting_to(html: str, suffix: str):
    (form,) = [f for f in forms_in(html) if f.action.endswith(suffix)]
    return form


def test_an_administrator_adds_and_removes_a_rule_on_the_page(rally_sandbox, api):
    admin = signed_in(rally_sandbox, "pm@example.com")
    page = f"{rally_sandbox.base_url}/sandbox/required-fields"
    html = admin.get(page, timeout=30).text
    assert "No rules" in html
    add = form_posting_to(html, "/sandbox/required-fields/add")
    answer = admin.post(
        rally_sandbox.base_url + add.action,
        data={
            **add.fields,
            "workspace": "Engineering",
            "type": "Feature",
            "field": "PlannedEndDate",
        },
        timeout=30,
    )
    assert answer.status_code == 200 and answer.url == page
    assert "Engineering now requires PortfolioItem/Feature.PlannedEndDate." in answer.text
    assert create_feature(api, "from the page")["Errors"] == [
        "Validation error: Feature.Planned End Date should not be null"
    ]

    remove = form_posting_to(answer.text, "/sandbox/required-fields/remove")
    assert remove.fields["field"] == "PlannedEndDate"
    removed = admin.post(rally_sandbox.base_url + remove.action, data=remove.fields, timeout=30)
    assert "Engineering no longer requires PortfolioItem/Feature.PlannedEndDate." in removed.text
    assert "No rules" in removed.text
    assert create_feature(api, "from the page again")["Errors"] == []


@pytest.mark.parametrize(
    ("type_name", "field", "message"),
    [
        ("Epic", "Name", "&quot;Epic&quot; is not a type whose objects can be created"),
        ("Defect", "Sevrity", "Defect has no attribute &quot;Sevrity&quot;"),
    ],
)
def test_bad_input_on_the_page_gets_a_clear_message(rally_sandbox, type_name, field, message):
    admin = signed_in(rally_sandbox, "pm@example.com")
    html = admin.get(f"{rally_sandbox.base_url}/sandbox/required-fields", timeout=30).text
    add = form_posting_to(html, "/sandbox/required-fields/add")
    answer = admin.post(
        rally_sandbox.base_url + add.action,
        data={**add.fields, "workspace": "Engineering", "type": type_name, "field": field},
        timeout=30,
    )
    assert answer.status_code == 400
    assert message in answer.text
    # The form keeps what was typed, to correct it.
    assert f'value="{field}"' in answer.text
    assert rally_sandbox.admin("GET", RULES).json()["required_fields"] == []


def test_only_subscription_administrators_see_the_page(rally_sandbox):
    developer = signed_in(rally_sandbox, "developer@example.com")
    page = developer.get(f"{rally_sandbox.base_url}/sandbox/required-fields", timeout=30)
    assert page.status_code == 403
    html = developer.get(f"{rally_sandbox.base_url}/sandbox/", timeout=30).text
    assert "/sandbox/required-fields" not in html
