"""Queries built from hostile input keep their meaning: proven against the sandbox's parser."""

from __future__ import annotations

import pytest

from aharally.rally import RallyQueryError, where

pytestmark = pytest.mark.sandbox_only

HOSTILE = [
    'quote " inside',
    'x") OR (Name contains "',
    "paren ) OR (ObjectID > 0",
    "AND OR null",
    "back\\slash",
    "ends with backslash \\",
    '\\") OR (Name != "',
]


@pytest.fixture
def hostile_stories(client, platform, marker):
    """One story per hostile string (name = marker + string), plus a plain decoy."""
    created = {}
    for text in HOSTILE:
        fields = {"Name": f"{marker} {text}", "Project": platform}
        story = client.create("HierarchicalRequirement", fields)
        created[text] = story.object_id
    client.create("HierarchicalRequirement", {"Name": f"{marker} decoy", "Project": platform})
    return created


@pytest.mark.parametrize("text", HOSTILE)
def test_an_equals_query_on_a_hostile_name_finds_exactly_that_story(
    client, marker, hostile_stories, text
):
    found = client.query("HierarchicalRequirement", query=where("Name", "=", f"{marker} {text}"))
    assert [story.object_id for story in found] == [hostile_stories[text]]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_contains_query_with_hostile_text_matches_only_names_containing_it(
    client, marker, hostile_stories, text
):
    found = client.query(
        "HierarchicalRequirement",
        query=where("Name", "contains", marker) & where("Name", "contains", text),
        fetch=["Name"],
    )
    expected = sorted(oid for t, oid in hostile_stories.items() if text in t)
    assert sorted(story.object_id for story in found) == expected


def test_a_hostile_value_matching_nothing_returns_nothing_rather_than_everything(
    client, marker, hostile_stories
):
    injection = f'{marker}") OR (Name contains "{marker}'
    found = client.query("HierarchicalRequirement", query=where("Name", "=", injection))
    assert found.total == 0


def test_a_query_the_sandbox_cannot_parse_is_a_query_error(client):
    # A field that does not exist is the only way left to get a bad query through the builder.
    with pytest.raises(RallyQueryError):
        client.query("HierarchicalRequirement", query=where("NoSuchField", "=", "x")).first()


def test_an_in_list_of_hostile_names_finds_exactly_those_stories(client, marker, hostile_stories):
    chosen = HOSTILE[:3]
    found = client.query(
        "HierarchicalRequirement", query=where("Name", "in", [f"{marker} {t}" for t in chosen])
    )
    assert sorted(story.object_id for story in found) == sorted(hostile_stories[t] for t in chosen)


def test_an_in_list_of_plain_tokens_uses_rallys_in_operator(client, platform, marker):
    for state in ("Defined", "In-Progress", "Completed"):
        client.create(
            "HierarchicalRequirement",
            {"Name": f"{marker} {state}", "Project": platform, "ScheduleState": state},
        )
    query = where("Name", "contains", marker) & where(
        "ScheduleState", "in", ["Defined", "Completed"]
    )
    assert " in Defined,Completed)" in str(query)
    found = client.query("HierarchicalRequirement", query=query, fetch=["ScheduleState"])
    assert sorted(story["ScheduleState"] for story in found) == ["Completed", "Defined"]
