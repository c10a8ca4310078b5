"""Inputs that once raised inside the sandbox get Rally's own kind of error instead.

Each was found by probing (impossible dates, strings stored as numbers, huge paging values,
deep JSON, lone surrogates…); before, the sandbox answered them with HTTP 200 and "An
unexpected error occurred". Now an exception is HTTP 500, so `answer()` fails on either.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

pytestmark = pytest.mark.sandbox_only

UNREADABLE = "Cannot parse input stream due to I/O error as JSON document: Parse error: "


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def answer(response: requests.Response) -> dict:
    """The envelope of a proper Rally answer (HTTP 200, JSON, one root key)."""
    assert response.status_code == 200, response.text[:500]
    (envelope,) = response.json().values()
    return envelope


def query(api, type_path: str, **params) -> dict:
    return answer(api.get(f"{api.base}/{type_path}", params=params))


def long_query(api, type_path: str, **params) -> dict:
    """A query sent as the .NET toolkit sends long ones: a form POST with _method=GET."""
    return answer(api.post(f"{api.base}/{type_path}", data={"_method": "GET", **params}))


def post_raw(api, path: str, body: str) -> dict:
    headers = {"Content-Type": "application/json"}
    return answer(api.post(f"{api.base}/{path}", data=body.encode(), headers=headers))


@pytest.mark.parametrize(
    ("type_path", "condition", "fragment"),
    [
        # Impossible or out-of-range dates.
        ("hierarchicalrequirement", "(CreationDate > 2027-02-30)", 'Cannot convert "2027-02-30"'),
        ("defect", "(CreationDate = 2027-13-01)", "to a date for CreationDate"),
        ("artifact", '(LastUpdateDate > "2027-02-30T10:00:00Z")', "to a date for LastUpdateDate"),
        ("release", "(ReleaseDate < 0000-01-01)", "to a date for ReleaseDate"),
        ("hierarchicalrequirement", "(Release.ReleaseDate <= 9999-12-31)", "to a date for"),
        ("defect", "(OpenedDate > 9999-12-31T23:59:59-05:00)", "to a date for OpenedDate"),
        # String attributes stored as numbers or UUIDs.
        ("hierarchicalrequirement", "(DragAndDropRank > abc)", "for attribute DragAndDropRank"),
        ("defect", "(DragAndDropRank <= US1)", "for attribute DragAndDropRank"),
        ("portfolioitem/feature", "(VersionId > abc)", "for attribute VersionId"),
        ("release", "(VersionId = x)", "for attribute VersionId"),
        ("artifact", "(ObjectUUID > zzzz)", "for attribute ObjectUUID"),
        ("workspace", "(ObjectUUID = 2027-02-30)", "for attribute ObjectUUID"),
        # Numbers that are not finite.
        ("hierarchicalrequirement", "(ObjectID = nan)", "for attribute ObjectID"),
        ("defect", "(ObjectID > inf)", "for attribute ObjectID"),
        ("hierarchicalrequirement", "(PlanEstimate < 1e400)", "for attribute PlanEstimate"),
        ("hierarchicalrequirement", "(Tags.ObjectID in 1,nan)", "for attribute ObjectID"),
    ],
)
def test_a_value_that_cannot_be_the_attributes_is_a_parse_error(
    api, type_path, condition, fragment
):
    envelope = query(api, type_path, query=condition)
    (error,) = envelope["Errors"]
    assert error.startswith("Could not parse: ") and fragment in error
    assert envelope["Results"] == [] and envelope["TotalResultCount"] == 0


def test_string_attributes_stored_as_numbers_still_compare_as_stored(api):
    # The seed ranks stories by number: US1 is rank 1, US2 rank 2…
    low = query(api, "hierarchicalrequirement", query="(DragAndDropRank <= 2)", fetch="FormattedID")
    assert low["Errors"] == []
    assert {"US1", "US2"} <= {r["FormattedID"] for r in low["Results"]}
    high = query(api, "hierarchicalrequirement", query="(DragAndDropRank > 2)", pagesize=2000)
    assert high["Errors"] == [] and high["TotalResultCount"] >= 3
    story = query(
        api, "hierarchicalrequirement", query="(FormattedID = US1)", fetch="ObjectUUID,VersionId"
    )["Results"][0]
    by_uuid = query(api, "artifact", query=f"(ObjectUUID = {story['ObjectUUID']})")
    assert [r["_refObjectUUID"] for r in by_uuid["Results"]] == [story["ObjectUUID"]]
    by_version = query(
        api,
        "hierarchicalrequirement",
        query=f"((FormattedID = US1) AND (VersionId = {story['VersionId']}))",
    )
    assert by_version["TotalResultCount"] == 1
    # A null test on a numeric column must not compare it with "".
    assert query(api, "hierarchicalrequirement", query="(FormattedID = null)")["Errors"] == []


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("(" * 201 + "Name = x" + ")" * 201, "nested more than 200 levels deep"),
        ("(" * 5000 + "Name = x" + ")" * 5000, "nested more than 200 levels deep"),
        (
            "(Name in " + ",".join(f"n{i}" for i in range(10_001)) + ")",
            "at most 10000 values; 10001 were given",
        ),
    ],
)
def test_a_query_too_deep_or_too_long_to_run_is_a_parse_error(api, condition, fragment):
    (error,) = long_query(api, "hierarchicalrequirement", query=condition)["Errors"]
    assert error.startswith("Could not parse: ") and fragment in error


def test_a_query_nested_200_levels_still_runs(api):
    condition = "(Name = nothing-has-this-name)"
    for index in range(199):
        condition = f"({condition} OR (Name = also-not-{index}))"
    envelope = long_query(api, "hierarchicalrequirement", query=condition)
    assert envelope["Errors"] == [] and envelope["TotalResultCount"] == 0


@pytest.mark.parametrize("type_path", ["hierarchicalrequirement", "typedefinition", "workspace"])
@pytest.mark.parametrize("start", ["99999999999999999999", "2147483648"])
def test_a_start_index_beyond_rallys_range_is_an_error(api, type_path, start):
    (error,) = query(api, type_path, start=start)["Errors"]
    assert error == f"Could not parse: start index {start} must be at most 2147483647"


@pytest.mark.parametrize("pagesize", ["99999999999999999999", "2001"])
def test_a_huge_pagesize_is_an_error(api, pagesize):
    (error,) = query(api, "hierarchicalrequirement", pagesize=pagesize)["Errors"]
    assert error == f"Could not parse: The maximum pagesize is 2000; {pagesize} was requested."


def test_a_start_index_past_the_results_is_an_empty_page(api):
    envelope = query(api, "hierarchicalrequirement", start="2147483647")
    assert envelope["Errors"] == [] and envelope["Results"] == []


DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("hierarchicalrequirement/create", DEEP_ARRAY),
        ("defect/create", DEEP_OBJECT),
        ("defect/create", '{"Defect": ' + DEEP_ARRAY + "}"),
        ("batch", DEEP_ARRAY),
        ("batch", '{"Batch": ' + DEEP_ARRAY + "}"),
    ],
)
def test_json_nested_too_deeply_is_an_unreadable_body(api, path, body):
    (error,) = post_raw(api, path, body)["Errors"]
    assert error == UNREADABLE + "the document is nested too deeply"


def test_json_nested_too_deeply_is_refused_on_update_and_collections(api):
    story = post_raw(
        api, "hierarchicalrequirement/create", '{"HierarchicalRequirement": {"Name": "deep"}}'
    )["Object"]
    path = story["_ref"].split("/v2.0/")[1]
    for target in (path, f"{path}/Tags/add"):
        (error,) = post_raw(api, target, DEEP_ARRAY)["Errors"]
        assert error == UNREADABLE + "the document is nested too deeply"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("hierarchicalrequirement/create", '{"HierarchicalRequirement": {"Name": "\\ud800"}}'),
        ("defect/create", '{"Defect": {"Name": "x", "PlanEstimate": "\\udfff"}}'),
        ("portfolioitem/feature/create", '{"Feature": {"Name": "x", "Project": "\\ud800"}}'),
        ("tag/create", '{"Tag": {"Name": "a\\ud800b"}}'),
        ("batch", '{"Batch": [{"Entry": {"Path": "/defect?query=(Name = \\ud800)"}}]}'),
    ],
)  # fmt: skip
def test_a_lone_surrogate_escape_is_an_unreadable_body(api, path, body):
    (error,) = post_raw(api, path, body)["Errors"]
    assert error == UNREADABLE + "a string holds an unpaired surrogate escape"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"PlannedEndDate": "2027-02-30"}, 'Cannot convert "2027-02-30" to a date for Feature.'),
        ({"PlannedStartDate": "2027-02-30T00:00:00Z"}, "to a date for Feature.Planned Start"),
        ({"PlannedStartDate": "0000-01-01"}, "to a date for Feature.Planned Start Date"),
        ({"ActualEndDate": "9999-12-31T23:59:59-14:00"}, "to a date for Feature.Actual End"),
        ({"DisplayColor": "#" + "f" * 30}, "Feature.Display Color must not be longer than 20"),
        ({"Name": "nul\u0000inside"}, "Feature.Name contained invalid input"),
    ],
)
def test_impossible_field_values_are_conversion_errors(api, fields, fragment):
    body = json.dumps({"PortfolioItem/Feature": {"Name": "hostile value", **fields}})
    (error,) = post_raw(api, "portfolioitem/feature/create", body)["Errors"]
    assert fragment in error


@pytest.mark.parametrize("raw", ["1e400", "NaN", "Infinity", "-Infinity", '"NaN"', '"inf"'])
def test_a_number_that_is_not_finite_is_refused(api, raw):
    body = '{"HierarchicalRequirement": {"Name": "not finite", "PlanEstimate": ' + raw + "}}"
    (error,) = post_raw(api, "hierarchicalrequirement/create", body)["Errors"]
    assert "to a number for HierarchicalRequirement.Plan Estimate" in error


def test_an_integer_beyond_32_bits_is_refused(api):
    state = query(api, "state", query="(Name = Developing)")["Results"][0]
    path = state["_ref"].split("/v2.0/")[1]
    (error,) = post_raw(api, path, '{"State": {"WIPLimit": 99999999999999999999}}')["Errors"]
    assert error == (
        'Could not convert: Cannot convert "99999999999999999999" to a number for State.WIP Limit'
    )


def test_a_non_null_integer_cleared_is_a_validation_error(api):
    state = query(api, "state", query="(Name = Developing)")["Results"][0]
    path = state["_ref"].split("/v2.0/")[1]
    (error,) = post_raw(api, path, '{"State": {"OrderIndex": null}}')["Errors"]
    assert error == "Validation error: State.Order Index should not be null"


@pytest.mark.parametrize("value", ["null", '""'])
def test_clearing_a_boolean_makes_it_false(api, value):
    body = '{"HierarchicalRequirement": {"Name": "unblocked", "Blocked": ' + value + "}}"
    created = post_raw(api, "hierarchicalrequirement/create", body)
    assert created["Errors"] == []
    story = answer(api.get(created["Object"]["_ref"]))
    assert story["Blocked"] is False
    tag = post_raw(
        api, "tag/create", '{"Tag": {"Name": "t-' + uuid.uuid4().hex[:6] + '", "Archived": null}}'
    )
    assert tag["Errors"] == []


def test_a_batch_inside_a_batch_entry_is_that_entrys_error(api):
    nested = {"Batch": []}
    for _ in range(150):
        nested = {"Batch": [{"Entry": {"Path": "/batch", "Method": "POST", "Body": nested}}]}
    envelope = post_raw(api, "batch", json.dumps(nested))
    assert envelope["Errors"] == []
    (entry,) = envelope["Results"]
    assert entry["Errors"] == ["Cannot parse batch entry: a batch cannot hold a batch"]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/hierarchicalrequirement?start=99999999999999999999", "must be at most 2147483647"),
        ("/defect?query=(CreationDate > 2027-02-30)", 'Cannot convert "2027-02-30"'),
        ("/defect?query=(DragAndDropRank > x)", "for attribute DragAndDropRank"),
    ],
)  # fmt: skip
def test_a_hostile_batch_entry_fails_alone_with_rallys_error(api, path, fragment):
    body = {"Batch": [{"Entry": {"Path": path, "Method": "GET"}},
                      {"Entry": {"Path": "/workspace", "Method": "GET"}}]}  # fmt: skip
    bad, good = post_raw(api, "batch", json.dumps(body))["Results"]
    (error,) = bad["Errors"]
    assert error.startswith("Could not parse: ") and fragment in error
    assert good["Errors"] == [] and good["TotalResultCount"] >= 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "99999999999999999999"}, "start must be a whole number from 1 to 2147483647."),
        ({"pagesize": "\u00b2"}, "pagesize must be a whole number from 1 to 2147483647."),
    ],
)
def test_the_webhook_list_refuses_paging_it_cannot_use(rally_sandbox, params, message):
    admin = rally_sandbox.session(rally_sandbox.admin_key)
    response = admin.get(f"{rally_sandbox.base_url}/apps/pigeon/api/v2/webhook", params=params)
    assert response.status_code == 400
    assert response.json()["Errors"] == [message]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (DEEP_ARRAY, "The body is not valid JSON: nested too deeply."),
        ('{"Name": "\\ud800", "TargetUrl": "http://127.0.0.1:9/hook"}',
         "The body is not valid JSON: a string holds an unpaired surrogate escape."),
    ],
)  # fmt: skip
def test_the_webhook_api_refuses_bodies_it_cannot_read(rally_sandbox, body, message):
    admin = rally_sandbox.session(rally_sandbox.admin_key)
    response = admin.post(
        f"{rally_sandbox.base_url}/apps/pigeon/api/v2/webhook",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["Errors"] == [message]


@pytest.mark.parametrize(
    "body",
    [DEEP_ARRAY, '{"workspace": "\\ud800", "type": "Defect", "field": "Severity"}'],
)
def test_the_admin_api_refuses_bodies_it_cannot_read(rally_sandbox, body):
    response = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/required-fields",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("The body")
