"""Custom fields as Rally has them: per workspace and type, in the definitions, WSAPI, the UI."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.rally_sandbox.oauth_flow import forms_in
from tests.rally_sandbox.test_faults_page import signed_in

pytestmark = pytest.mark.sandbox_only

FIELDS = "/sandbox-admin/custom-fields"
FEATURE = "PortfolioItem/Feature"
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


def add(sandbox, name, kind, allowed=None, required=False, type_path=FEATURE):
    return sandbox.admin(
        "POST",
        FIELDS,
        json={
            "workspace": "Engineering",
            "type": type_path,
            "name": name,
            "kind": kind,
            "allowed_values": allowed,
            "required": required,
        },
    )


@pytest.fixture(scope="module")
def kinds(rally_sandbox):
    """One field of each kind on features, removed after the module (others read the type)."""
    made = {
        "STRING": add(rally_sandbox, f"Str {MARK}", "STRING"),
        "TEXT": add(rally_sandbox, f"Txt {MARK}", "TEXT"),
        "INTEGER": add(rally_sandbox, f"Int {MARK}", "INTEGER"),
        "DECIMAL": add(rally_sandbox, f"Dec {MARK}", "DECIMAL"),
        "DATE": add(rally_sandbox, f"Day {MARK}", "DATE"),
        "BOOLEAN": add(rally_sandbox, f"Flag {MARK}", "BOOLEAN"),
        "DROP_DOWN": add(rally_sandbox, f"Tier {MARK}", "DROP_DOWN", ["Gold", "Silver"]),
        "USER": add(rally_sandbox, f"Asker {MARK}", "USER"),
    }
    assert {r.status_code for r in made.values()} == {201}
    fields = {kind: r.json()["field"] for kind, r in made.items()}
    yield fields
    for name in fields.values():
        rally_sandbox.admin(
            "DELETE", FIELDS, json={"workspace": "Engineering", "type": FEATURE, "field": name}
        )


def feature_attributes(api) -> dict[str, dict]:
    typedef = api.get(
        f"{api.base}/typedefinition",
        params={"query": '(ElementName = "Feature")', "fetch": "ObjectID"},
    ).json()["QueryResult"]["Results"][0]
    attributes = api.get(
        f"{api.base}/TypeDefinition/{typedef['ObjectID']}/Attributes",
        params={"fetch": "true", "pagesize": 200},
    ).json()["QueryResult"]["Results"]
    return {a["ElementName"]: a for a in attributes}


def allowed_values(api, attribute: dict) -> list[str]:
    found = api.get(attribute["AllowedValues"]["_ref"], params={"fetch": "true"}).json()
    return [v["StringValue"] for v in found["QueryResult"]["Results"]]


def create_feature(api, **fields) -> dict:
    return api.post(
        f"{api.base}/portfolioitem/feature/create",
        json={"Feature": {"Name": f"{MARK} custom", **fields}},
        params={"fetch": "true"},
    ).json()["CreateResult"]


def test_the_demo_features_have_a_risk_level_drop_down_and_a_customer(api):
    attributes = feature_attributes(api)
    risk, customer = attributes["c_RiskLevel"], attributes["c_Customer"]
    assert (risk["Name"], risk["AttributeType"], risk["Custom"]) == ("Risk Level", "STRING", True)
    assert allowed_values(api, risk) == ["Green", "Amber", "Red"]
    assert (customer["Name"], customer["AttributeType"], customer["Constrained"]) == (
        "Customer",
        "STRING",
        False,
    )
    made = create_feature(api, c_RiskLevel="amber", c_Customer="ACME")
    assert made["Errors"] == []
    assert (made["Object"]["c_RiskLevel"], made["Object"]["c_Customer"]) == ("Amber", "ACME")


def test_a_value_outside_the_allowed_list_is_rallys_validation_error(api):
    refused = create_feature(api, c_RiskLevel="Purple")
    assert refused["Errors"] == [
        'Validation error: Feature.Risk Level has an invalid value "Purple"; '
        "allowed values are Green, Amber, Red"
    ]


def test_each_kind_is_defined_written_and_read_as_rally_does(api, kinds, rally_sandbox):
    attributes = feature_attributes(api)
    types = {kind: attributes[name]["AttributeType"] for kind, name in kinds.items()}
    assert types == {
        "STRING": "STRING",
        "TEXT": "TEXT",
        "INTEGER": "INTEGER",
        "DECIMAL": "DECIMAL",
        "DATE": "DATE",
        "BOOLEAN": "BOOLEAN",
        "DROP_DOWN": "STRING",
        "USER": "OBJECT",
    }
    assert all(attributes[name]["Custom"] for name in kinds.values())
    assert attributes[kinds["USER"]]["AllowedValueType"]["_refObjectName"] == "User"
    assert allowed_values(api, attributes[kinds["DROP_DOWN"]]) == ["Gold", "Silver"]
    developer = api.get(
        f"{api.base}/user", params={"query": '(EmailAddress = "developer@example.com")'}
    ).json()["QueryResult"]["Results"][0]
    made = create_feature(
        api,
        **{
            kinds["STRING"]: "short",
            kinds["TEXT"]: "<p>long <b>text</b></p>",
            kinds["INTEGER"]: "42",
            kinds["DECIMAL"]: 2.5,
            kinds["DATE"]: "2027-03-31",
            kinds["BOOLEAN"]: "true",
            kinds["DROP_DOWN"]: "silver",
            kinds["USER"]: developer["_ref"],
        },
    )
    assert made["Errors"] == []
    feature = api.get(made["Object"]["_ref"]).json()["Feature"]
    assert feature[kinds["STRING"]] == "short"
    assert feature[kinds["TEXT"]] == "<p>long <b>text</b></p>"
    assert feature[kinds["INTEGER"]] == 42
    assert feature[kinds["DECIMAL"]] == 2.5
    assert feature[kinds["DATE"]] == "2027-03-31T00:00:00.000Z"
    assert feature[kinds["BOOLEAN"]] is True
    assert feature[kinds["DROP_DOWN"]] == "Silver"
    assert feature[kinds["USER"]]["_ref"].endswith(developer["_ref"].split("/v2.0")[-1])
    # Queryable like any attribute.
    found = api.get(
        f"{api.base}/portfolioitem/feature",
        params={"query": f'({kinds["DROP_DOWN"]} = "Silver")'},
    ).json()["QueryResult"]
    assert found["TotalResultCount"] >= 1
    for query, expected in [
        (f"({kinds['DATE']} > 2027-03-30)", 1),
        (f"({kinds['DATE']} < 2027-03-30)", 0),
        (f"({kinds['INTEGER']} >= 42)", 1),
        (f"({kinds['BOOLEAN']} = true)", 1),
        (f"({kinds['USER']} = {developer['_ref']})", 1),
    ]:
        answer = api.get(
            f"{api.base}/portfolioitem/feature",
            params={"query": f'(({query}) AND (Name contains "{MARK}"))'},
        )
        assert answer.status_code == 200, query
        assert answer.json()["QueryResult"]["Errors"] == [], query
        assert answer.json()["QueryResult"]["TotalResultCount"] == expected, query
    # An update of another field leaves them as they were.
    updated = api.post(made["Object"]["_ref"], json={"Feature": {"Name": f"{MARK} renamed"}})
    assert updated.json()["OperationResult"]["Errors"] == []
    again = api.get(made["Object"]["_ref"]).json()["Feature"]
    assert again[kinds["DATE"]] == "2027-03-31T00:00:00.000Z"
    assert again[kinds["USER"]]["_ref"] == feature[kinds["USER"]]["_ref"]


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("INTEGER", "many", 'Could not convert: Cannot convert "many" to a number'),
        ("INTEGER", 2**40, "Could not convert"),
        ("DATE", "2027-02-30", 'Could not convert: Cannot convert "2027-02-30" to a date'),
        ("BOOLEAN", "maybe", 'Could not convert: Cannot convert "maybe" to a boolean'),
        ("DROP_DOWN", "Bronze", 'has an invalid value "Bronze"; allowed values are Gold, Silver'),
        ("USER", "/user/1", "Could not set value for"),
        ("STRING", "x" * 257, "must not be longer than 256 characters"),
    ],
)
def test_bad_values_are_refused_with_rallys_errors(api, kinds, kind, value, says):
    refused = create_feature(api, **{kinds[kind]: value})
    assert len(refused["Errors"]) == 1
    assert says in refused["Errors"][0]


def test_a_required_custom_field_must_be_given_on_create(api, rally_sandbox):
    name = f"Must {MARK}"
    made = add(rally_sandbox, name, "STRING", required=True, type_path="Defect")
    field = made.json()["field"]
    try:
        refused = api.post(
            f"{api.base}/defect/create", json={"Defect": {"Name": f"{MARK} defect"}}
        ).json()["CreateResult"]
        assert refused["Errors"] == [f"Validation error: Defect.{name} should not be null"]
        defect = api.get(f"{api.base}/typedefinition", params={"query": '(ElementName = "Defect")'})
        assert defect.json()["QueryResult"]["TotalResultCount"] == 1
    finally:
        rally_sandbox.admin(
            "DELETE", FIELDS, json={"workspace": "Engineering", "type": "Defect", "field": field}
        )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"type": FEATURE, "name": "Tier", "kind": "DROP_DOWN"}, "needs its allowed values"),
        ({"type": FEATURE, "name": "Odd", "kind": "COLOUR"}, "Choose the kind of field"),
        ({"type": FEATURE, "name": "Name", "kind": "STRING", "allowed_values": ["a"]}, "Only a"),
        ({"type": FEATURE, "name": "!!", "kind": "STRING"}, "with letters or digits"),
        ({"type": "Nothing", "name": "X", "kind": "STRING"}, "is not a type"),
        ({"type": FEATURE, "name": "Risk Level", "kind": "INTEGER"}, "already exists as a"),
    ],
)
def test_the_admin_api_refuses_a_bad_definition(rally_sandbox, body, says):
    response = rally_sandbox.admin("POST", FIELDS, json={"workspace": "Engineering", **body})
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_a_subscription_administrator_adds_a_field_in_the_web_ui(rally_sandbox, api):
    admin = signed_in(rally_sandbox, "pm@example.com")
    page = admin.get(f"{rally_sandbox.base_url}/sandbox/custom-fields")
    assert "c_RiskLevel" in page.text
    (form,) = [f for f in forms_in(page.text) if f.action.endswith("/add")]
    name = f"Quarter {MARK}"
    answer = admin.post(
        f"{rally_sandbox.base_url}{form.action}",
        data={
            **form.fields,
            "workspace": "Engineering",
            "type": FEATURE,
            "name": name,
            "kind": "DROP_DOWN",
            "allowed_values": "Q1\nQ2",
        },
        headers={"Referer": page.url},
    )
    assert answer.status_code == 200
    element = "c_Quarter" + MARK
    try:
        assert element in answer.text
        assert allowed_values(api, feature_attributes(api)[element]) == ["Q1", "Q2"]
        bad = admin.post(
            f"{rally_sandbox.base_url}{form.action}",
            data={
                **form.fields,
                "workspace": "Engineering",
                "type": FEATURE,
                "name": "T",
                "kind": "DROP_DOWN",
            },
            headers={"Referer": page.url},
        )
        assert bad.status_code == 400
        assert "A drop-down list needs its allowed values." in bad.text
    finally:
        rally_sandbox.admin(
            "DELETE", FIELDS, json={"workspace": "Engineering", "type": FEATURE, "field": element}
        )


def test_a_developer_cannot_define_fields_but_sets_values_on_an_item(rally_sandbox, api):
    developer = signed_in(rally_sandbox, "developer@example.com")
    refused = developer.get(f"{rally_sandbox.base_url}/sandbox/custom-fields")
    assert refused.status_code == 403
    made = create_feature(api, c_RiskLevel="Red", c_Customer="ACME")["Object"]
    item = f"{rally_sandbox.base_url}/sandbox/items/{made['ObjectID']}/"
    page = developer.get(item).text
    assert '<option value="Red" selected>Red</option>' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    project = re.search(r'<option value="(/project/\d+)" selected>', page).group(1)
    data = {
        "csrfmiddlewaretoken": token,
        "name": made["Name"],
        "project": project,
        "state": "",
        "c_RiskLevel": "Green",
        "c_Customer": "ACME",
    }
    saved = developer.post(item, data=data, headers={"Referer": item})
    assert saved.status_code == 200
    feature = api.get(made["_ref"]).json()["Feature"]
    assert (feature["c_RiskLevel"], feature["c_Customer"]) == ("Green", "ACME")
    wrong = developer.post(item, data={**data, "c_RiskLevel": "Purple"}, headers={"Referer": item})
    assert wrong.status_code == 400
    assert "Select a valid choice" in wrong.text
    assert api.get(made["_ref"]).json()["Feature"]["c_RiskLevel"] == "Green"
