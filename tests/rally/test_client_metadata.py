"""Metadata discovery against the sandbox: what the integration wizard offers to choose."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sandbox_only


def test_it_lists_the_open_workspaces_of_the_subscription(client):
    assert [w.name for w in client.workspaces()] == ["Engineering", "Operations"]
    everything = client.workspaces(include_closed=True)
    assert {"Engineering", "Operations"} <= {w.name for w in everything}
    assert all(w.object_id for w in everything)


def test_it_builds_the_project_tree_of_a_workspace(client):
    tree = client.projects(client.workspace)
    assert [p.name for p in tree] == ["Mobile", "Platform"]
    (platform,) = [p for p in tree if p.name == "Platform"]
    teams = ["Platform \u2013 Team A", "Platform \u2013 Team B"]
    assert [c.name for c in platform.children] == teams
    assert all(c.parent.object_id == platform.object_id for c in platform.children)
    assert [(depth, p.name) for depth, p in platform.walk()] == [(0, "Platform")] + [
        (1, team) for team in teams
    ]


def test_closed_projects_are_left_out_unless_asked_for(client):
    names = {p.name for p in client.projects(client.workspace, include_closed=True)}
    assert "Legacy Portal" in names
    assert "Legacy Portal" not in {p.name for p in client.projects(client.workspace)}


def test_it_lists_the_type_definitions_of_a_workspace(client):
    types = {t.type_path: t for t in client.type_definitions()}
    assert {"HierarchicalRequirement", "Defect", "PortfolioItem/Feature"} <= set(types)
    assert types["HierarchicalRequirement"].id_prefix == "US"
    assert types["PortfolioItem/Feature"].parent_name


def test_it_lists_the_portfolio_item_levels_from_the_lowest_up(client):
    levels = client.portfolio_item_types()
    assert [(t.type_path, t.ordinal) for t in levels] == [
        ("PortfolioItem/Feature", 0),
        ("PortfolioItem/Initiative", 1),
        ("PortfolioItem/Theme", 2),
    ]
    assert levels[0].id_prefix == "F"


def test_it_lists_the_states_of_a_portfolio_item_type_in_order(client):
    states = client.states("PortfolioItem/Feature")
    assert [s.name for s in states] == ["Discovering", "Developing", "Measuring", "Done"]
    assert [s.order_index for s in states] == sorted(s.order_index for s in states)
    assert [s.name for s in client.states("PortfolioItem/Theme")] == [
        "Discovering",
        "Developing",
        "Done",
    ]


def test_it_lists_attributes_with_the_allowed_values_of_drop_downs(client):
    attributes = {a.element_name: a for a in client.attributes("HierarchicalRequirement")}
    schedule = attributes["ScheduleState"]
    assert list(schedule.allowed_values)[:4] == ["Defined", "In-Progress", "Completed", "Accepted"]
    assert attributes["c_RiskLevel"].allowed_values == ("Low", "Medium", "High")
    assert attributes["c_RiskLevel"].custom
    assert client.allowed_values("HierarchicalRequirement", "c_RiskLevel") == (
        "Low",
        "Medium",
        "High",
    )


def test_it_lists_the_fields_a_create_must_set(client, rally_sandbox):
    with rally_sandbox.required_field("Defect", "Severity"):
        required = {a.element_name for a in client.required_fields("Defect")}
        story_required = client.required_fields("HierarchicalRequirement")
    assert {"Name", "Severity"} <= required
    assert "Severity" not in {a.element_name for a in story_required}


def test_a_default_workspace_requires_only_what_rally_always_requires(client):
    required = {a.element_name for a in client.required_fields("Defect")}
    assert "Name" in required
    assert "Severity" not in required


def test_it_reads_the_allowed_values_of_an_attribute_read_without_them(client):
    attributes = {
        a.element_name: a
        for a in client.attributes("PortfolioItem/Feature", with_allowed_values=False)
    }
    risk = attributes["c_RiskLevel"]
    assert risk.custom and risk.constrained and risk.allowed_values is None
    assert client.attribute_values(risk) == ("Green", "Amber", "Red")
