"""Every WSAPI operation of the client, against the sandbox over HTTP."""

from __future__ import annotations

import pytest

from aharally.rally import (
    BatchEntry,
    RallyNotFound,
    RallyValidationError,
    all_of,
    where,
)

pytestmark = pytest.mark.sandbox_only


def test_it_creates_reads_updates_and_deletes_a_story(client, platform, marker):
    created = client.create(
        "HierarchicalRequirement",
        {"Name": f"{marker} first", "Project": platform, "PlanEstimate": 3},
        fetch=["FormattedID", "Name", "ObjectID"],
    )
    assert created.type == "HierarchicalRequirement"
    assert created.formatted_id.startswith("US")
    assert created.name == f"{marker} first"

    read = client.read(created.ref, fetch=["Name", "PlanEstimate", "Project", "ScheduleState"])
    assert read.object_id == created.object_id
    assert read["PlanEstimate"] == 3
    assert read.ref_of("Project").object_id == platform.object_id

    updated = client.update(created, {"Name": f"{marker} renamed", "ScheduleState": "In-Progress"})
    assert updated.object_id == created.object_id
    again = client.read(created.ref, fetch=["Name", "ScheduleState"])
    assert again.name == f"{marker} renamed"
    assert again["ScheduleState"] == "In-Progress"

    client.delete(created.ref)
    with pytest.raises(RallyNotFound):
        client.read(created.ref)


def test_an_unknown_field_on_update_comes_back_as_a_warning_not_an_error(client, platform, marker):
    story = client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    updated = client.update(story, {"Name": marker, "c_NoSuchField": "x"})
    assert any("c_NoSuchField" in warning for warning in updated.warnings)


def test_a_query_filters_orders_and_fetches_fields(client, platform, marker):
    for name, estimate in [("b", 5), ("a", 1), ("c", 8)]:
        client.create(
            "HierarchicalRequirement",
            {"Name": f"{marker} {name}", "Project": platform, "PlanEstimate": estimate},
        )
    results = client.query(
        "HierarchicalRequirement",
        query=all_of(where("Name", "contains", marker), where("PlanEstimate", ">", 2)),
        fetch=["Name", "PlanEstimate"],
        order="Name desc",
    )
    assert [story.name for story in results] == [f"{marker} c", f"{marker} b"]
    assert results.total == 2


def test_project_scope_down_includes_child_projects_and_scope_off_does_not(
    client, platform, marker
):
    team_a = client.query("Project", query=where("Name", "=", "Platform \u2013 Team A")).first()
    client.create("HierarchicalRequirement", {"Name": f"{marker} parent", "Project": platform})
    client.create("HierarchicalRequirement", {"Name": f"{marker} child", "Project": team_a})
    mine = where("Name", "contains", marker)

    def names(**scope):
        found = client.query("HierarchicalRequirement", query=mine, fetch=["Name"], **scope)
        return sorted(story.name for story in found)

    assert names(project=platform, project_scope_down=True) == [
        f"{marker} child",
        f"{marker} parent",
    ]
    assert names(project=platform, project_scope_down=False) == [f"{marker} parent"]
    assert names(project=team_a, project_scope_up=True, project_scope_down=False) == [
        f"{marker} child",
        f"{marker} parent",
    ]


def test_a_validation_error_carries_rallys_messages(client, platform, marker, rally_sandbox):
    with (
        rally_sandbox.required_field("Defect", "Severity"),
        pytest.raises(RallyValidationError) as caught,
    ):
        client.create("Defect", {"Name": marker, "Project": platform})
    assert any("Severity" in message for message in caught.value.messages)
    assert caught.value.kind == "validation"
    assert not client.query("Defect", query=where("Name", "=", marker)).total


def test_reading_a_deleted_object_is_not_found(client, platform, marker):
    story = client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    client.delete(story)
    with pytest.raises(RallyNotFound):
        client.read(story)
    with pytest.raises(RallyNotFound):
        client.update(story, {"Name": "x"})


def test_tags_are_added_to_and_removed_from_a_collection(client, platform, marker):
    story = client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    red = client.create("Tag", {"Name": f"{marker}-red"})
    blue = client.create("Tag", {"Name": f"{marker}-blue"})

    added = client.add_to_collection(story, "Tags", [red, blue], fetch=["Name"])
    assert sorted(tag.name for tag in added) == [f"{marker}-blue", f"{marker}-red"]
    assert sorted(t.name for t in client.collection(story, "Tags", fetch=["Name"])) == [
        f"{marker}-blue",
        f"{marker}-red",
    ]

    client.remove_from_collection(story, "Tags", [red])
    assert [t.name for t in client.collection(story, "Tags", fetch=["Name"])] == [f"{marker}-blue"]


def test_a_batch_creates_and_updates_and_reports_each_entrys_error(
    client, platform, marker, rally_sandbox
):
    existing = client.create("HierarchicalRequirement", {"Name": marker, "Project": platform})
    with rally_sandbox.required_field("Defect", "Severity"):
        results = client.batch(
            [
                BatchEntry.create(
                    "HierarchicalRequirement",
                    {"Name": f"{marker} new", "Project": platform.ref.path},
                ),
                BatchEntry.update(existing.ref, {"Name": f"{marker} changed"}),
                BatchEntry.create("Defect", {"Name": f"{marker} no severity"}),
            ],
            fetch=["Name", "FormattedID"],
        )
    assert [r.ok for r in results] == [True, True, False]
    assert results[0].object.name == f"{marker} new"
    assert results[1].object.object_id == existing.object_id
    assert isinstance(results[2].error, RallyValidationError)
    assert client.read(existing, fetch=["Name"]).name == f"{marker} changed"
    created = client.query("HierarchicalRequirement", query=where("Name", "=", f"{marker} new"))
    assert created.total == 1


def test_it_reads_the_subscription_and_the_current_user(client):
    assert client.subscription().name
    assert client.current_user(fetch=["UserName"])["UserName"] == "pm@example.com"
