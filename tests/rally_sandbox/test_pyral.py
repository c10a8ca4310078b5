"""Acceptance: Broadcom's pyral 1.7.0 runs its basic cycle against the sandbox over HTTP."""

from __future__ import annotations

import uuid

import pyral.context
import pyral.restapi
import pytest
from pyral import Rally

pytestmark = pytest.mark.sandbox_only


@pytest.fixture
def rally(rally_sandbox, monkeypatch):
    # pyral hard-codes https; its module global is the documented switch (WSAPI.md §0.6).
    monkeypatch.setattr(pyral.restapi, "PROTOCOL", "http")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    return Rally(
        rally_sandbox.server,
        apikey=rally_sandbox.api_key,
        workspace="Engineering",
        project="Platform",
        warn=False,
    )


def test_pyral_connects_and_lists_workspaces_and_projects(rally):
    assert rally.getWorkspace().Name == "Engineering"
    assert rally.getProject().Name == "Platform"
    assert {"Engineering", "Operations"} <= {w.Name for w in rally.getWorkspaces()}
    projects = {p.Name for p in rally.getProjects(workspace="Engineering")}
    assert {"Platform", "Platform – Team A", "Platform – Team B", "Mobile"} <= projects  # noqa: RUF001


def test_pyral_rejects_a_wrong_api_key_as_invalid_credentials(rally_sandbox, monkeypatch):
    monkeypatch.setattr(pyral.restapi, "PROTOCOL", "http")
    # pyral raises its context module's own RallyRESTAPIError at connect time.
    with pytest.raises(pyral.context.RallyRESTAPIError, match="Invalid credentials"):
        Rally(rally_sandbox.server, apikey="_" + "x" * 40, workspace="Engineering")


def test_pyral_creates_a_feature_and_a_story_under_it_then_queries_updates_and_deletes(rally):
    marker = uuid.uuid4().hex[:8]
    feature = rally.create("Feature", {"Name": f"Checkout {marker}", "Description": "<p>pay</p>"})
    assert feature.FormattedID.startswith("F")
    story = rally.create(
        "UserStory",
        {
            "Name": f"Pay by card {marker}",
            "ScheduleState": "Defined",
            "PlanEstimate": 3,
            "PortfolioItem": feature.ref,
        },
    )
    assert story.FormattedID.startswith("US")
    assert story.PortfolioItem.FormattedID == feature.FormattedID
    assert story.Project.Name == "Platform"

    found = list(
        rally.get(
            "UserStory",
            fetch="FormattedID,Name,ScheduleState,PlanEstimate",
            query=f'Name contains "{marker}"',
            order="FormattedID desc",
            pagesize=10,
        )
    )
    assert [s.FormattedID for s in found] == [story.FormattedID]
    assert found[0].PlanEstimate == 3

    updated = rally.update(
        "UserStory",
        {"ObjectID": story.oid, "ScheduleState": "In-Progress", "Name": f"Pay {marker}"},
    )
    assert (updated.Name, updated.ScheduleState) == (f"Pay {marker}", "In-Progress")
    assert int(updated.VersionId) == int(story.VersionId) + 1
    by_formatted_id = rally.update("UserStory", {"FormattedID": story.FormattedID, "Notes": "n"})
    assert by_formatted_id.Notes == "n"

    features = list(
        rally.get("Feature", fetch="FormattedID,UserStories", query=f'Name contains "{marker}"')
    )
    assert [s.FormattedID for s in features[0].UserStories] == [story.FormattedID]

    developing = rally.getState("Feature", "Developing")
    moved = rally.update("Feature", {"ObjectID": feature.oid, "State": developing.ref})
    assert moved.State.Name == "Developing"

    assert rally.delete("UserStory", story.FormattedID) is True
    assert rally.delete("Feature", feature.oid) is True
    gone = rally.get("UserStory", fetch="Name", query=f'Name contains "{marker}"')
    assert gone.resultCount == 0


def test_pyral_pages_through_500_stories(rally, rally_sandbox):
    marker = f"page-{uuid.uuid4().hex[:8]}"
    created = rally.createMultiple(
        "UserStory", [{"Name": f"{marker} {i:03d}", "PlanEstimate": i % 8} for i in range(500)]
    )
    assert len(created) == 500
    stories = rally.get(
        "UserStory", fetch="Name", query=f'Name contains "{marker}"', order="Name", pagesize=100
    )
    names = [story.Name for story in stories]
    assert names == [f"{marker} {i:03d}" for i in range(500)]


def test_pyral_reads_allowed_values_and_required_custom_fields_from_the_schema(rally):
    assert rally.getAllowedValues("Defect", "Severity")[:3] == [
        "None",
        "Crash/Data Loss",
        "Major Problem",
    ]
    assert "In-Progress" in rally.getAllowedValues("HierarchicalRequirement", "ScheduleState")
    story_type = rally.typedef("HierarchicalRequirement")
    custom = [a.ElementName for a in story_type.Attributes if a.Custom]
    assert "c_AhaReference" in custom


def test_pyral_gets_a_validation_error_for_a_missing_required_field(rally, rally_sandbox):
    with (
        rally_sandbox.required_field("Defect", "Severity"),
        pytest.raises(
            pyral.restapi.RallyRESTAPIError, match=r"Defect\.Severity should not be null"
        ),
    ):
        rally.create("Defect", {"Name": "No severity"})


def test_pyral_with_a_user_and_password_writes_using_a_security_token(rally_sandbox, monkeypatch):
    monkeypatch.setattr(pyral.restapi, "PROTOCOL", "http")
    rally = Rally(
        rally_sandbox.server,
        user="developer@example.com",
        password=rally_sandbox.users["developer@example.com"],
        workspace="Engineering",
        project="Platform",
        warn=False,
    )
    story = rally.create("UserStory", {"Name": f"basic auth {uuid.uuid4().hex[:6]}"})
    assert story.FormattedID.startswith("US")
    assert story.CreatedBy.UserName == "developer@example.com"
    assert rally.delete("UserStory", story.oid) is True


def test_pyral_follows_a_stories_revision_history(rally):
    story = rally.create("UserStory", {"Name": f"revised {uuid.uuid4().hex[:6]}"})
    rally.update("UserStory", {"ObjectID": story.oid, "ScheduleState": "Completed"})
    revisions = story.RevisionHistory.Revisions
    assert [r.RevisionNumber for r in revisions] == [0, 1]
    assert revisions[1].Description == "SCHEDULE STATE changed from [Defined] to [Completed]"


def test_pyral_attaches_reads_and_deletes_a_file_and_posts_to_the_discussion(rally, tmp_path):
    marker = uuid.uuid4().hex[:8]
    story = rally.create("UserStory", {"Name": f"Attach {marker}"})
    data = bytes(range(256)) * 4
    path = tmp_path / f"trace-{marker}.bin"
    path.write_bytes(data)

    attachment = rally.addAttachment(story, str(path), mime_type="application/octet-stream")
    assert attachment.Name == path.name

    story = rally.get("UserStory", query=f'FormattedID = "{story.FormattedID}"', instance=True)
    assert rally.getAttachmentNames(story) == [path.name]
    (read,) = rally.getAttachments(story)
    assert read.Content == data
    assert (read.Size, read.ContentType) == (len(data), "application/octet-stream")

    post = rally.create("ConversationPost", {"Artifact": story.ref, "Text": "<p>See the trace</p>"})
    assert post.PostNumber == 1
    posts = list(rally.get("ConversationPost", fetch="Text,PostNumber",
                           query=f'Artifact = "{story.ref}"'))  # fmt: skip
    assert [p.Text for p in posts] == ["<p>See the trace</p>"]

    assert rally.deleteAttachment(story, path.name)
    story = rally.get("UserStory", query=f'FormattedID = "{story.FormattedID}"', instance=True)
    assert rally.getAttachmentNames(story) == []


def test_pyral_sets_and_reads_a_multi_value_drop_down(rally):
    """pyral greases a list of refs for a collection and hydrates its members on reading."""
    allowed = rally.getAllowedValues("Feature", "c_Platforms")
    assert allowed == ["Web", "iOS", "Android"]
    marker = uuid.uuid4().hex[:8]
    feature = rally.create("Feature", {"Name": f"Ships {marker}"})
    try:
        typedef = rally.typedef("Feature")
        attribute = next(a for a in typedef.Attributes if a.ElementName == "c_Platforms")
        refs = {v.StringValue: v.ref for v in attribute.AllowedValues}
        rally.update(
            "Feature",
            {"FormattedID": feature.FormattedID, "c_Platforms": [refs["iOS"], refs["Web"]]},
        )
        read = rally.get(
            "Feature", fetch="FormattedID,c_Platforms", query=f"FormattedID = {feature.FormattedID}"
        ).next()
        assert [v.StringValue for v in read.c_Platforms] == ["Web", "iOS"]
    finally:
        rally.delete("Feature", feature.oid)
