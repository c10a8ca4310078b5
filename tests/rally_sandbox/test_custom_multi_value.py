"""Multi-value drop-down custom fields as Rally has them: a COLLECTION of allowed values."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.rally_sandbox.test_faults_page import signed_in

pytestmark = pytest.mark.sandbox_only

MARK = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


@pytest.fixture(scope="module", autouse=True)
def no_features_left(api):
    """Other tests count the workspace's top-level portfolio items: delete the features made."""
    yield
    found = api.get(
        f"{api.base}/portfolioitem/feature",
        params={"query": f'(Name contains "{MARK}")', "pagesize": 2000},
    ).json()["QueryResult"]["Results"]
    for feature in found:
        assert api.delete(feature["_ref"]).json()["OperationResult"]["Errors"] == []


@pytest.fixture(scope="module")
def platforms(api) -> dict:
    """The demo features' `c_Platforms` definition and {value: ref} of its allowed values."""
    typedef = api.get(
        f"{api.base}/typedefinition",
        params={"query": '(ElementName = "Feature")', "fetch": "ObjectID"},
    ).json()["QueryResult"]["Results"][0]
    attributes = api.get(
        f"{api.base}/TypeDefinition/{typedef['ObjectID']}/Attributes",
        params={"fetch": "true", "pagesize": 200},
    ).json()["QueryResult"]["Results"]
    attribute = next(a for a in attributes if a["ElementName"] == "c_Platforms")
    values = api.get(attribute["AllowedValues"]["_ref"], params={"fetch": "true"}).json()
    refs = {v["StringValue"]: v["_ref"] for v in values["QueryResult"]["Results"]}
    return {"attribute": attribute, "refs": refs}


def create_feature(api, **fields) -> dict:
    return api.post(
        f"{api.base}/portfolioitem/feature/create",
        json={"Feature": {"Name": f"{MARK} platforms", **fields}},
        params={"fetch": "true"},
    ).json()["CreateResult"]


def chosen(api, ref: str) -> list[str]:
    summary = api.get(ref).json()["Feature"]["c_Platforms"]
    return [item["Name"] for item in summary["_tagsNameArray"]]


def test_the_demo_features_have_a_multi_value_drop_down(platforms):
    attribute = platforms["attribute"]
    assert (attribute["Name"], attribute["AttributeType"], attribute["Custom"]) == (
        "Platforms",
        "COLLECTION",
        True,
    )
    assert attribute["Constrained"] is True
    assert attribute["AllowedValueType"]["_refObjectName"] == "Allowed Attribute Value"
    assert list(platforms["refs"]) == ["Web", "iOS", "Android"]


def test_a_set_of_allowed_values_is_written_and_read_as_a_collection(api, platforms):
    refs = platforms["refs"]
    made = create_feature(api, c_Platforms=[{"_ref": refs["Android"]}, {"_ref": refs["Web"]}])
    assert made["Errors"] == []
    summary = made["Object"]["c_Platforms"]
    # As samples/single-object-testcase.json's c_Component: a summary with names inline.
    assert summary["_type"] == "AllowedAttributeValue"
    assert summary["Count"] == 2
    assert [item["Name"] for item in summary["_tagsNameArray"]] == ["Web", "Android"]
    assert summary["_ref"].endswith(f"/{made['Object']['ObjectID']}/c_Platforms")
    members = api.get(summary["_ref"], params={"fetch": "true"}).json()["QueryResult"]
    assert [m["StringValue"] for m in members["Results"]] == ["Web", "Android"]
    assert {m["_ref"] for m in members["Results"]} == {refs["Web"], refs["Android"]}
    # A whole new set replaces the old; an empty list clears it.
    ref = made["Object"]["_ref"]
    assert (
        api.post(ref, json={"Feature": {"c_Platforms": [{"_ref": refs["iOS"]}]}}).json()[
            "OperationResult"
        ]["Errors"]
        == []
    )
    assert chosen(api, ref) == ["iOS"]
    history = api.get(
        f"{made['Object']['RevisionHistory']['_ref']}/Revisions", params={"fetch": "true"}
    ).json()["QueryResult"]["Results"]
    assert "PLATFORMS changed from [Web, Android] to [iOS]" in {r["Description"] for r in history}
    assert (
        api.post(ref, json={"Feature": {"c_Platforms": []}}).json()["OperationResult"]["Errors"]
        == []
    )
    assert chosen(api, ref) == []


@pytest.mark.parametrize(
    "value",
    [
        ["Web"],  # a bare string is no ref
        [{"_ref": "/allowedattributevalue/1000"}],  # another attribute's value
        "out of range",
    ],
)
def test_a_value_the_field_does_not_allow_is_rallys_validation_error(api, platforms, value):
    refs = platforms["refs"]
    if value == "out of range":
        value = [{"_ref": re.sub(r"\d+$", lambda m: str(int(m.group()) + 9), refs["Web"])}]
    refused = create_feature(api, c_Platforms=[{"_ref": refs["iOS"]}, *value])
    assert len(refused["Errors"]) == 1
    assert refused["Errors"][0].startswith("Validation error: Feature.Platforms has an invalid")
    assert refused["Errors"][0].endswith("allowed values are Web, iOS, Android")
    assert "Object" not in refused


def test_values_are_added_and_removed_through_the_collection(api, platforms):
    refs = platforms["refs"]
    made = create_feature(api, c_Platforms=[{"_ref": refs["Web"]}])["Object"]
    collection = made["c_Platforms"]["_ref"]
    added = api.post(f"{collection}/add", json={"CollectionItems": [{"_ref": refs["iOS"]}]})
    assert added.json()["OperationResult"]["Errors"] == []
    assert [r["StringValue"] for r in added.json()["OperationResult"]["Results"]] == ["iOS"]
    assert chosen(api, made["_ref"]) == ["Web", "iOS"]
    removed = api.post(f"{collection}/remove", json={"CollectionItems": [{"_ref": refs["Web"]}]})
    assert removed.json()["OperationResult"]["Errors"] == []
    assert chosen(api, made["_ref"]) == ["iOS"]
    wrong = api.post(f"{collection}/add", json={"CollectionItems": [{"_ref": "/user/1"}]})
    assert "has an invalid value" in wrong.json()["OperationResult"]["Errors"][0]
    assert chosen(api, made["_ref"]) == ["iOS"]


def test_a_required_multi_value_field_must_have_a_value(api, rally_sandbox, platforms):
    name = f"Regions {MARK}"
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/custom-fields",
        json={
            "workspace": "Engineering",
            "type": "PortfolioItem/Feature",
            "name": name,
            "kind": "MULTI_DROP_DOWN",
            "allowed_values": ["EU", "US"],
            "required": True,
        },
    )
    assert answer.status_code == 201
    field = answer.json()["field"]
    try:
        refused = create_feature(api, **{field: []})
        assert refused["Errors"] == [f"Validation error: Feature.{name} should not be null"]
    finally:
        rally_sandbox.admin(
            "DELETE",
            "/sandbox-admin/custom-fields",
            json={"workspace": "Engineering", "type": "PortfolioItem/Feature", "field": field},
        )


def test_a_developer_ticks_values_on_an_item_in_the_web_ui(rally_sandbox, api, platforms):
    refs = platforms["refs"]
    made = create_feature(api, c_Platforms=[{"_ref": refs["Web"]}])["Object"]
    developer = signed_in(rally_sandbox, "developer@example.com")
    item = f"{rally_sandbox.base_url}/sandbox/items/{made['ObjectID']}/"
    page = developer.get(item).text
    web = refs["Web"].split("/v2.0")[-1]
    assert re.search(rf'value="{re.escape(web)}"[^>]*checked', page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    project = re.search(r'<option value="(/project/\d+)" selected>', page).group(1)
    data = {
        "csrfmiddlewaretoken": token,
        "name": made["Name"],
        "project": project,
        "state": "",
        "c_Platforms": [refs[v].split("/v2.0")[-1] for v in ("iOS", "Android")],
    }
    saved = developer.post(item, data=data, headers={"Referer": item})
    assert saved.status_code == 200
    assert chosen(api, made["_ref"]) == ["iOS", "Android"]
