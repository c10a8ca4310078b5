"""Typed results: refs, objects and query pages built from Rally's real responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aharally.rally import BatchEntry, QueryPage, RallyObject, RallyRef
from aharally.rally.client import QueryResults

pytestmark = pytest.mark.sandbox_only

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_a_ref_knows_its_relative_path_and_object_id_in_every_spelling():
    absolute = RallyRef("https://rally1.rallydev.com/slm/webservice/v2.0/PortfolioItem/Feature/42")
    assert absolute.path == "/portfolioitem/feature/42"
    assert absolute.object_id == 42
    assert RallyRef.parse("defect/7").path == "/defect/7"
    assert RallyRef.parse("/defect/7").object_id == 7
    v2x = "https://x.example/slm/webservice/v2.x/defect/4c9107c0-8a1b-4c8e-9f0a-1b2c3d4e5f60"
    assert RallyRef.parse(v2x).object_id is None
    with pytest.raises(ValueError):
        RallyRef.parse("https://example.com/not/a/ref?x=1")


def test_an_updated_object_exposes_its_identity_fields_and_nested_refs():
    content = sample("operation-result-update-defect-with-warning.json")["OperationResult"]
    obj = RallyObject.from_json(content["Object"], warnings=tuple(content["Warnings"]))
    assert obj.type == "Defect"
    assert obj.object_id == 838568308171
    assert obj.formatted_id == "DE201"
    assert obj.label == "DE201"
    assert obj.version == "7"
    assert obj.ref.path == "/defect/838568308171"
    assert obj.ref_of("Workspace").object_id == 836073279859
    assert obj.ref_of("Owner") is None
    assert obj.warnings == (
        "Ignored JSON element defect.c_DefectImpactedArea during processing of this request.",
    )


def test_a_single_object_read_drops_the_errors_and_warnings_arrays_from_its_fields():
    ((root, content),) = sample("single-object-testcase.json").items()
    obj = RallyObject.from_json(content, type_hint=root)
    assert "Errors" not in obj and "Warnings" not in obj
    assert obj.type == "TestCase"


def test_page_arithmetic_follows_total_result_count():
    page = QueryPage(results=[], total=5000, start=4001, page_size=2000)
    assert page.next_start is None
    assert QueryPage(results=[], total=5000, start=2001, page_size=2000).next_start == 4001
    assert QueryPage(results=[], total=2000, start=1, page_size=2000).next_start is None
    assert QueryPage(results=[], total=2001, start=1, page_size=2000).next_start == 2001


def test_results_are_fetched_lazily_and_only_as_far_as_iteration_goes():
    requested = []

    def fetch_page(start):
        requested.append(start)
        stop = min(start + 10, 26)
        items = [RallyObject({"_ref": f"/defect/{n}", "ObjectID": n}) for n in range(start, stop)]
        return QueryPage(results=items, total=25, start=start, page_size=10)

    results = QueryResults(fetch_page)
    assert requested == []
    assert results.total == 25
    assert requested == [1]
    ids = [obj.object_id for obj in results]
    assert ids == list(range(1, 26))
    assert requested == [1, 11, 21]
    limited = QueryResults(fetch_page, limit=12)
    requested.clear()
    assert len(list(limited)) == 12
    assert requested == [1, 11]


def test_batch_entries_use_relative_paths_and_the_type_as_body_key():
    assert BatchEntry.create("HierarchicalRequirement", {"Name": "a"}).to_json() == {
        "Entry": {
            "Path": "/hierarchicalrequirement/create",
            "Method": "POST",
            "Body": {"HierarchicalRequirement": {"Name": "a"}},
        }
    }
    ref = "https://h/slm/webservice/v2.0/portfolioitem/feature/5"
    update = BatchEntry.update(ref, {"Name": "b"})
    assert update.to_json()["Entry"]["Path"] == "/portfolioitem/feature/5"
    assert update.to_json()["Entry"]["Body"] == {"portfolioitem/feature": {"Name": "b"}}


def test_an_object_without_a_formatted_id_is_named_by_its_type_and_object_id():
    release = RallyObject.from_json(
        {"_ref": "https://x.example/slm/webservice/v2.0/release/77", "_type": "Release"}
    )
    assert release.formatted_id is None
    assert release.label == "Release 77"
    feature = RallyObject.from_json({"ObjectID": 5, "_type": "PortfolioItem/Feature"})
    assert feature.label == "Feature 5"
