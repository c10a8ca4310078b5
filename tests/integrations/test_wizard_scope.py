"""Steps 4-5: Choose a workspace and a project, read from the Rally sandbox."""

from __future__ import annotations

import re

import pytest

from aharally.integrations.models import Integration, WizardStep
from aharally.integrations.wizard import services
from tests.integrations.wizard_support import (
    add_user_without_workspaces,
    authorized,
    engineering_oid,
    project_oid,
    step_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings):
    return authorized(cast.workspace, cast.owner, rally_sandbox)


def test_the_workspaces_the_rally_user_sees_are_offered(owner_client, integration):
    page = owner_client.get(step_url(integration, "workspace")).content.decode()
    assert "Engineering" in page and "Operations" in page
    assert "Pat Manager" in page


def test_choosing_a_workspace_saves_it_and_continues_to_the_project(
    owner_client, integration, rally_sandbox
):
    oid = engineering_oid(rally_sandbox)
    response = owner_client.post(step_url(integration, "workspace"), {"workspace": oid})
    assert response["Location"] == step_url(integration, "project")
    integration.refresh_from_db()
    assert (integration.rally_workspace_oid, integration.rally_workspace_name) == (
        oid,
        "Engineering",
    )
    assert integration.wizard_step == WizardStep.PROJECT


def test_a_workspace_rally_did_not_offer_is_refused(owner_client, integration):
    response = owner_client.post(step_url(integration, "workspace"), {"workspace": 123456789})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    integration.refresh_from_db()
    assert integration.rally_workspace_oid is None


def test_a_rally_user_who_sees_no_workspace_is_told_so_and_nothing_is_saved(
    owner_client, cast, rally_sandbox, wizard_settings
):
    key = "_LonelyKeyWithoutWorkspaces0000000000000"
    add_user_without_workspaces(rally_sandbox, key=key)
    integration = authorized(cast.workspace, cast.owner, rally_sandbox, api_key=key)
    page = owner_client.get(step_url(integration, "workspace")).content.decode()
    assert "cannot see any open workspace" in page
    response = owner_client.post(step_url(integration, "workspace"), {"workspace": 1})
    assert response.status_code == 400
    integration.refresh_from_db()
    assert integration.rally_workspace_oid is None
    assert integration.wizard_step == WizardStep.WORKSPACE


def test_a_credential_rally_no_longer_accepts_marks_the_integration_for_reauthorization(
    owner_client, cast, rally_sandbox, wizard_settings
):
    revoked = "_RevokedKey00000000000000000000000000000"
    integration = authorized(cast.workspace, cast.owner, rally_sandbox, api_key=revoked)
    page = owner_client.get(step_url(integration, "workspace")).content.decode()
    assert "Authorize the integration again" in page
    integration.refresh_from_db()
    assert integration.needs_reauthorization is True
    assert integration.log.filter(level="error").exists()


@pytest.fixture
def with_workspace(integration, rally_sandbox):
    services.choose_workspace(
        integration=integration, oid=engineering_oid(rally_sandbox), name="Engineering"
    )
    return integration


def test_the_project_tree_shows_open_projects_with_children_under_parents(
    owner_client, with_workspace
):
    page = owner_client.get(step_url(with_workspace, "project")).content.decode()
    platform = page.index(">Platform<")
    team_a = page.index("Platform \u2013 Team A")
    assert platform < team_a
    assert "\u2003Platform \u2013 Team A" in page  # indented one level
    assert "Mobile" in page
    assert "Legacy Portal" not in page  # closed
    assert "Exclude child updates" in page
    assert "moving a record from a parent to a child project breaks the integration link" in page


def test_choosing_a_project_with_exclude_child_updates_saves_both(
    owner_client, with_workspace, rally_sandbox
):
    oid = project_oid(rally_sandbox, "Platform")
    response = owner_client.post(
        step_url(with_workspace, "project"), {"project": oid, "exclude_child_updates": "on"}
    )
    assert response["Location"] == step_url(with_workspace, "mappings")
    with_workspace.refresh_from_db()
    assert with_workspace.rally_project_oid == oid
    assert with_workspace.rally_project_name == "Platform"
    assert with_workspace.exclude_child_updates is True


def test_changing_the_workspace_drops_the_project_and_mappings_of_the_old_one(
    owner_client, with_workspace, rally_sandbox
):
    services.choose_project(
        integration=with_workspace, oid=1, name="Platform", exclude_child_updates=False
    )
    with_workspace.record_mappings.create(record_type="feature", rally_type="PortfolioItem/Feature")
    page = owner_client.get(step_url(with_workspace, "workspace")).content.decode()

    operations = int(re.search(r'value="(\d+)"[^>]*>\s*<label[^>]*>Operations', page).group(1))
    owner_client.post(step_url(with_workspace, "workspace"), {"workspace": operations})
    integration = Integration.objects.get(pk=with_workspace.pk)
    assert integration.rally_workspace_name == "Operations"
    assert integration.rally_project_oid is None
    assert not integration.record_mappings.exists()


def test_projects_integrated_already_in_the_workspace_are_marked_and_the_rule_explained(
    owner_client, cast, with_workspace, rally_sandbox
):
    first = authorized(cast.workspace, cast.owner, rally_sandbox)
    first.name = "Platform Rally"
    first.save()
    services.choose_workspace(
        integration=first, oid=engineering_oid(rally_sandbox), name="Engineering"
    )
    services.choose_project(
        integration=first,
        oid=project_oid(rally_sandbox, "Platform"),
        name="Platform",
        exclude_child_updates=False,
    )

    page = owner_client.get(step_url(with_workspace, "project")).content.decode()

    assert "Some of these projects are integrated already" in page
    draft = "“Platform Rally” (Platform, a draft not enabled yet)"
    assert f">Platform — integrated by {draft}<" in page
    assert f"Platform \u2013 Team A — inside the project of {draft}" in page
    assert "never imports it as a copy" in page
    assert "Mobile —" not in page


def test_no_overlap_no_notice(owner_client, with_workspace):
    page = owner_client.get(step_url(with_workspace, "project")).content.decode()
    assert "Some of these projects are integrated already" not in page
