"""Every type the schema lists can be queried, read and its collections followed without a fault."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sandbox_only

UNEXPECTED = "An unexpected error occurred"


def test_every_type_object_and_collection_answers_cleanly(rally_sandbox):
    api = rally_sandbox.session()
    base = rally_sandbox.wsapi_url
    workspace = api.get(f"{base}/workspace", params={"query": "(Name = Engineering)"}).json()
    oid = workspace["QueryResult"]["Results"][0]["_ref"].rsplit("/", 1)[1]
    schema = api.get(f"{rally_sandbox.base_url}/slm/schema/v2.0/workspace/{oid}").json()
    type_paths = [t["TypePath"] for t in schema["QueryResult"]["Results"]]
    assert len(type_paths) >= 20
    checked = 0
    for type_path in type_paths:
        response = api.get(f"{base}/{type_path}", params={"fetch": "true", "pagesize": 3})
        assert response.status_code == 200, type_path
        body = response.json()
        if "QueryResult" not in body:
            # GET /user and /subscription without a query answer with the caller's own object.
            (single,) = body.values()
            body = {"QueryResult": {"Errors": single["Errors"], "Results": [single]}}
        result = body["QueryResult"]
        assert result["Errors"] == [], (type_path, result["Errors"])
        for item in result["Results"]:
            (body,) = api.get(item["_ref"]).json().values()
            assert body["Errors"] == [], (item["_ref"], body["Errors"])
            for name, value in body.items():
                if isinstance(value, dict) and "Count" in value and "_ref" in value:
                    page = api.get(value["_ref"], params={"pagesize": 3}).json()["QueryResult"]
                    assert UNEXPECTED not in page["Errors"], (value["_ref"], page["Errors"])
                    assert page["Errors"] == [] or name == "AllowedValues", value["_ref"]
                    checked += 1
    assert checked > 50
    typedefs = api.get(f"{base}/typedefinition", params={"fetch": "true", "pagesize": 200})
    for typedef in typedefs.json()["QueryResult"]["Results"]:
        attributes = api.get(typedef["Attributes"]["_ref"]).json()["QueryResult"]
        assert attributes["Errors"] == [], typedef["TypePath"]
        for attribute in attributes["Results"]:
            allowed = attribute["AllowedValues"]
            if isinstance(allowed, dict):
                values = api.get(allowed["_ref"]).json()["QueryResult"]
                assert values["Errors"] == [] and values["Results"], allowed["_ref"]
