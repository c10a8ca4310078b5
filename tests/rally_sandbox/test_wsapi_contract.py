"""The sandbox's JSON has the shape of Rally's real responses (samples in tests/rally/samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.sandbox_only

SAMPLES = Path(__file__).resolve().parent.parent / "rally" / "samples"
UNDERSCORE_HEAD = ["_rallyAPIMajor", "_rallyAPIMinor", "_ref", "_refObjectUUID"]


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "str", list: "list", dict: "dict"}[
        type(value)
    ]


def assert_same_types(ours: dict, theirs: dict, *, where: str) -> None:
    """Every key both sides have holds the same JSON type (null matches anything)."""
    for key in ours.keys() & theirs.keys():
        if ours[key] is None or theirs[key] is None:
            continue
        assert kind(ours[key]) == kind(theirs[key]), f"{where}.{key}"


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def get(api, path: str, **params) -> dict:
    response = api.get(f"{api.base}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_query_result_has_the_envelope_of_a_real_one(api):
    ours = get(api, "hierarchicalrequirement", fetch="FormattedID,Name,ScheduleState,PlanEstimate")
    theirs = sample("query-hierarchicalrequirement.json")
    assert list(ours) == ["QueryResult"]
    assert list(ours["QueryResult"]) == list(theirs["QueryResult"])
    assert_same_types(ours["QueryResult"], theirs["QueryResult"], where="QueryResult")


def test_query_items_carry_the_underscore_keys_in_rallys_order(api):
    item = get(api, "hierarchicalrequirement", fetch="FormattedID,Name")["QueryResult"]["Results"][
        0
    ]
    theirs = sample("query-hierarchicalrequirement.json")["QueryResult"]["Results"][0]
    assert list(item)[:6] == list(theirs)[:6]
    assert list(item)[-1] == "_type"
    assert_same_types(item, theirs, where="item")
    assert item["_ref"].startswith(api.base + "/hierarchicalrequirement/")


def test_without_fetch_items_are_bare_refs(api):
    item = get(api, "defect")["QueryResult"]["Results"][0]
    assert list(item) == [*UNDERSCORE_HEAD, "_refObjectName", "_type"]


def test_nested_refs_are_hydrated_with_the_fetched_fields_like_the_task_sample(api):
    fetch = "ObjectID,FormattedID,Owner,Blocked,Estimate,State,ToDo,WorkProduct,DirectChildrenCount"
    ours = get(api, "task", fetch=fetch, order="FormattedID")["QueryResult"]["Results"][0]
    theirs = sample("query-task-with-nested-refs.json")["QueryResult"]["Results"][0]
    work_product = ours["WorkProduct"]
    assert list(work_product)[:6] == list(theirs["WorkProduct"])[:6]
    assert {"ObjectID", "FormattedID", "DirectChildrenCount", "Owner"} <= set(work_product)
    assert work_product["Owner"]["_type"] == "User" and "ObjectID" in work_product["Owner"]
    assert_same_types(work_product, theirs["WorkProduct"], where="WorkProduct")


def test_an_empty_query_result_matches_the_empty_sample(api):
    ours = get(api, "defect", query='(Name = "no such defect anywhere")')
    theirs = sample("query-defect-empty.json")
    assert ours["QueryResult"]["TotalResultCount"] == 0
    assert set(ours["QueryResult"]) == set(theirs["QueryResult"])


def test_a_single_object_is_wrapped_in_its_element_name_with_errors_inside(api):
    ref = get(api, "hierarchicalrequirement")["QueryResult"]["Results"][0]["_ref"]
    ours = api.get(ref).json()
    theirs = sample("single-object-testcase.json")
    assert list(ours) == ["HierarchicalRequirement"]
    story = ours["HierarchicalRequirement"]
    assert list(story)[-2:] == ["Errors", "Warnings"] == list(theirs["TestCase"])[-2:]
    assert_same_types(story, theirs["TestCase"], where="story")
    tags = story["Tags"]
    assert list(tags) == list(theirs["TestCase"]["Tags"])
    tasks = story["Tasks"]
    assert list(tasks) == ["_rallyAPIMajor", "_rallyAPIMinor", "_ref", "_type", "Count"]
    assert tasks["_ref"].endswith("/Tasks") and "/HierarchicalRequirement/" in tasks["_ref"]
    assert story["_objectVersion"] == story["VersionId"]
    assert story["CreationDate"].endswith("Z") and len(story["CreationDate"]) == 24


def test_a_feature_is_wrapped_as_feature_with_a_portfolio_item_type(api):
    ref = get(api, "portfolioitem/feature")["QueryResult"]["Results"][0]["_ref"]
    assert "/portfolioitem/feature/" in ref
    feature = api.get(ref).json()["Feature"]
    assert feature["_type"] == "PortfolioItem/Feature"
    assert feature["FormattedID"].startswith("F")
    assert feature["State"]["_type"] == "State"


def test_the_current_user_and_subscription_match_the_samples(api):
    user = get(api, "user")
    assert_same_types(user["User"], sample("user-current.json")["User"], where="User")
    assert {"UserName", "EmailAddress", "DisplayName", "UserProfile", "SubscriptionAdmin"} <= set(
        user["User"]
    )
    subscription = get(api, "subscription")
    theirs = sample("subscription.json")["Subscription"]
    assert_same_types(subscription["Subscription"], theirs, where="Subscription")
    assert list(subscription["Subscription"]["Workspaces"]) == list(theirs["Workspaces"])


def test_security_authorize_has_the_sample_shape(api):
    ours = get(api, "security/authorize")
    theirs = sample("security-authorize.json")
    assert list(ours["OperationResult"]) == list(theirs["OperationResult"])
    assert len(ours["OperationResult"]["SecurityToken"]) >= 32


def test_workspace_projects_collection_has_the_sample_shape(api):
    workspace = get(api, "workspace", query="(Name = Engineering)")["QueryResult"]["Results"][0]
    projects = api.get(workspace["_ref"]).json()["Workspace"]["Projects"]
    ours = api.get(projects["_ref"], params={"fetch": "true"}).json()["QueryResult"]["Results"][0]
    theirs = sample("query-workspace-projects.json")["QueryResult"]["Results"][0]
    assert_same_types(ours, theirs, where="Project")
    assert {"Children", "Parent", "State", "Name", "Iterations", "Releases"} <= set(ours)


def test_a_validation_failure_has_the_create_result_sample_shape(rally_sandbox, api):
    with rally_sandbox.required_field("Defect", "Severity"):
        response = api.post(f"{api.base}/defect/create", json={"Defect": {"Name": "x"}})
    ours = response.json()
    theirs = sample("create-result-validation-errors.json")
    assert response.status_code == 200
    assert list(ours["CreateResult"]) == list(theirs["CreateResult"])
    assert ours["CreateResult"]["Errors"] == [
        "Validation error: Defect.Severity should not be null"
    ]


def test_an_unknown_field_on_update_is_a_warning_worded_like_rally(api):
    created = api.post(
        f"{api.base}/defect/create", json={"Defect": {"Name": "warn me", "Severity": "Cosmetic"}}
    ).json()["CreateResult"]["Object"]
    ours = api.post(created["_ref"], json={"Defect": {"c_DefectImpactedArea": "x"}}).json()
    theirs = sample("operation-result-update-defect-with-warning.json")
    assert list(ours["OperationResult"]) == list(theirs["OperationResult"])
    assert ours["OperationResult"]["Warnings"] == [
        "Ignored JSON element defect.c_DefectImpactedArea during processing of this request."
    ]
    assert_same_types(
        ours["OperationResult"]["Object"], theirs["OperationResult"]["Object"], where="Defect"
    )


def test_a_batch_result_has_the_sample_shape(api):
    entry = {
        "Path": "/hierarchicalrequirement/create",
        "Method": "PUT",
        "Body": {"hierarchicalrequirement": {"Name": "batched"}},
    }
    body = {"Batch": [{"Entry": entry}]}
    ours = api.post(f"{api.base}/batch", json=body, params={"fetch": "FormattedID,Name"}).json()
    theirs = sample("batch-result.json")
    assert list(ours["BatchResult"]) == list(theirs["BatchResult"])
    result = ours["BatchResult"]["Results"][0]
    assert {"_rallyAPIMajor", "_rallyAPIMinor", "Errors", "Warnings", "Object"} <= set(result)
    assert result["Object"]["FormattedID"].startswith("US")


def test_bad_credentials_get_the_jetty_401_page(rally_sandbox):
    response = requests.get(
        f"{rally_sandbox.wsapi_url}/hierarchicalrequirement", headers={"ZSESSIONID": "_nope"}
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.strip() == (SAMPLES / "error-401.html").read_text().strip()


def test_the_schema_endpoint_lists_type_definitions_with_pyrals_required_keys(rally_sandbox, api):
    workspace = get(api, "workspace", query="(Name = Engineering)")["QueryResult"]["Results"][0]
    oid = workspace["_ref"].rsplit("/", 1)[1]
    schema = api.get(f"{rally_sandbox.base_url}/slm/schema/v2.0/workspace/{oid}").json()
    types = {t["ElementName"]: t for t in schema["QueryResult"]["Results"]}
    assert {"HierarchicalRequirement", "Defect", "Task", "Feature", "Initiative", "Theme"} <= set(
        types
    )
    required = [
        "_ref",
        "_refObjectName",
        "ElementName",
        "Name",
        "DisplayName",
        "TypePath",
        "IDPrefix",
        "Abstract",
        "Parent",
        "Creatable",
        "Queryable",
        "ReadOnly",
        "Deletable",
        "Restorable",
        "Ordinal",
        "RevisionHistory",
        "Attributes",
    ]
    for typedef in types.values():
        assert set(required) <= set(typedef), typedef["ElementName"]
    attribute_keys = [
        "_ref",
        "_refObjectName",
        "ElementName",
        "Name",
        "AttributeType",
        "Custom",
        "Required",
        "ReadOnly",
        "Filterable",
        "Hidden",
        "SchemaType",
        "Constrained",
        "AllowedValueType",
        "AllowedValues",
        "MaxLength",
        "MaxFractionalDigits",
    ]
    story_attrs = {a["ElementName"]: a for a in types["HierarchicalRequirement"]["Attributes"]}
    assert set(attribute_keys) <= set(story_attrs["ScheduleState"])
    assert story_attrs["c_AhaReference"]["Custom"] is True
    assert story_attrs["ScheduleState"]["AllowedValues"]["_ref"].endswith("/AllowedValues")
    assert types["Feature"]["TypePath"] == "PortfolioItem/Feature"
    assert types["Feature"]["IDPrefix"] == "F"
    defect_attrs = {a["ElementName"]: a for a in types["Defect"]["Attributes"]}
    # A default workspace requires only what the type always needs.
    assert defect_attrs["Name"]["Required"] is True
    assert defect_attrs["Severity"]["Required"] is False


def test_the_schema_reports_a_required_field_rule_as_required(rally_sandbox, api):
    workspace = get(api, "workspace", query="(Name = Engineering)")["QueryResult"]["Results"][0]
    oid = workspace["_ref"].rsplit("/", 1)[1]

    def severity_required() -> bool:
        schema = api.get(f"{rally_sandbox.base_url}/slm/schema/v2.0/workspace/{oid}").json()
        (defect,) = [t for t in schema["QueryResult"]["Results"] if t["ElementName"] == "Defect"]
        (severity,) = [a for a in defect["Attributes"] if a["ElementName"] == "Severity"]
        return severity["Required"]

    with rally_sandbox.required_field("Defect", "Severity"):
        assert severity_required() is True
    assert severity_required() is False
