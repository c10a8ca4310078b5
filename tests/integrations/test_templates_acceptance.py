"""Acceptance 2, end to end against the sandbox: an integration configured with the wizard is
used as a template; a second workspace picks it in step 1, chooses its project and is enabled;
a change to the template's status mapping shows on both integrations' settings pages."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationState, OutgoingMode
from aharally.statusmap.models import StatusMap
from aharally.workspaces.models import WorkflowStatus
from tests.factories import make_workspace
from tests.integrations.wizard_support import project_oid, scoped, step_url

pytestmark = pytest.mark.django_db


def _settings(integration: Integration) -> str:
    return reverse(
        "integrations:settings",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


def _row(html: str, status: str) -> str:
    """The Rally states a status takes in, as the settings page's status table shows them."""
    match = re.search(rf"<tr><td>{re.escape(status)}</td><td>([^<]*)</td>", html)
    assert match, f"no row for {status}"
    return match.group(1)


@pytest.fixture
def template(client, cast, rally_sandbox, wizard_settings):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    client.force_login(cast.owner)
    client.get(step_url(integration, "mappings"))  # default mappings
    client.post(step_url(integration, "mappings"))
    client.get(step_url(integration, "statuses"))  # Rally's states, auto-matched
    client.post(step_url(integration, "statuses"))
    response = client.post(
        step_url(integration, "enable"),
        {"outgoing_mode": OutgoingMode.APPROVE, "incoming_mode": "automatic"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    response = client.post(
        reverse(
            "integrations:make_template",
            kwargs={"prefix": "PLAT", "integration_id": integration.pk},
        )
    )
    integration.refresh_from_db()
    assert integration.is_template and integration.state == IntegrationState.ENABLED
    return integration


def test_a_second_workspace_built_on_the_template_is_configured_and_follows_it(
    client, cast, rally_sandbox, template
):
    company = make_workspace("Company", "COMP", owner=cast.owner)
    response = client.post(
        reverse("integrations:wizard_new", kwargs={"prefix": "COMP"}),
        {"name": "Company Rally", "template": template.pk},
    )
    derived = Integration.objects.get(workspace=company)
    assert response["Location"] == step_url(derived, "project")
    assert client.get(step_url(derived, "project")).status_code == 200
    response = client.post(
        step_url(derived, "project"), {"project": project_oid(rally_sandbox, "Platform")}
    )
    assert response["Location"] == step_url(derived, "enable")
    response = client.post(
        step_url(derived, "enable"), {"outgoing_mode": "automatic", "incoming_mode": "automatic"}
    )
    assert response.status_code == 302
    derived.refresh_from_db()
    assert derived.state == IntegrationState.ENABLED

    template_page = client.get(_settings(template)).content.decode()
    derived_page = client.get(_settings(derived)).content.decode()
    assert "Built on the template" in derived_page
    assert "Approve outgoing changes" in derived_page  # the template's modes, not its own
    for html in (template_page, derived_page):
        assert "PortfolioItem/Feature" in html
        assert "HierarchicalRequirement" in html

    # Measuring and Developing dropped onto In development, on the template only.
    feature_map = StatusMap.objects.get(
        record_mapping__integration=template, record_mapping__record_type="feature"
    )
    in_development = WorkflowStatus.objects.get(
        workspace=template.workspace, record_type="feature", name="In development"
    )
    assert "Measuring" not in _row(template_page, "In development")
    for state in ("Measuring", "Developing"):
        client.post(
            step_url(template, "status_assign", mapping_id=feature_map.record_mapping_id),
            {"rally_state": state, "status": in_development.pk},
        )
    for integration in (template, derived):
        row = _row(client.get(_settings(integration)).content.decode(), "In development")
        assert "Measuring" in row and "Developing" in row, integration.name

    report = client.get(reverse("integrations:manage", kwargs={"prefix": "COMP"})).content
    assert report.decode().count('state-enabled">Enabled<') == 2
