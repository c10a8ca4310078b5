"""Step 8: modes, Test connection and Enable; plus the walk through every step."""

from __future__ import annotations

import pytest

from aharally.integrations.models import (
    Integration,
    IntegrationState,
    OutgoingMode,
    WizardStep,
)
from tests.integrations.wizard_support import reach, scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings, client):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    client.force_login(cast.owner)
    client.get(step_url(integration, "mappings"))
    reach(integration, WizardStep.STATUSES)
    client.get(step_url(integration, "statuses"))
    return reach(integration, WizardStep.ENABLE)


def test_the_enable_step_offers_both_modes_with_the_defaults_and_the_recommendation(
    owner_client, integration
):
    page = owner_client.get(step_url(integration, "enable")).content.decode()
    assert "Automatically send outgoing changes" in page
    assert "Approve outgoing changes" in page
    assert "Recommended for teams new to the integration" in page
    assert "Automatically import new records" in page
    assert 'name="outgoing_mode" value="automatic" id="id_outgoing_mode_0" required checked' in page
    assert 'name="incoming_mode" value="automatic" id="id_incoming_mode_0" required checked' in page
    assert "Test connection" in page


def test_test_connection_reads_the_user_workspace_and_project(owner_client, integration):
    response = owner_client.post(step_url(integration, "test_connection"), HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert "as Pat Manager" in text
    assert "the workspace “Engineering” and the project “Platform” are reachable" in text
    assert "<html" not in text
    integration.refresh_from_db()
    assert integration.last_success_at is not None


def test_test_connection_explains_a_refused_credential(owner_client, integration):
    Integration.objects.filter(pk=integration.pk).update(
        api_key="_Wrong000000000000000000000000000000000"
    )
    response = owner_client.post(step_url(integration, "test_connection"), HTTP_HX_REQUEST="true")
    assert "Authorize the integration again" in response.content.decode()


def test_enabling_with_approve_outgoing_changes_stores_the_modes_and_enables(
    owner_client, integration
):
    response = owner_client.post(
        step_url(integration, "enable"),
        {"outgoing_mode": "approve", "incoming_mode": "automatic"},
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.ENABLED
    assert integration.enabled_at is not None
    assert integration.outgoing_mode == OutgoingMode.APPROVE
    assert integration.log.filter(message__startswith="Enabled by owner@example.com").exists()


def test_changing_the_modes_of_an_enabled_integration_says_what_was_saved(
    owner_client, integration
):
    modes = {"outgoing_mode": "automatic", "incoming_mode": "automatic"}
    first = owner_client.post(step_url(integration, "enable"), modes, follow=True)
    assert "is enabled." in first.content.decode()
    modes["outgoing_mode"] = "approve"
    again = owner_client.post(step_url(integration, "enable"), modes, follow=True)
    page = again.content.decode()
    assert "is enabled." not in page
    assert (
        f"Saved: “{integration.name}” sends outgoing changes once a reviewer approves them, "
        "and imports new records at once." in page
    )


def test_an_incomplete_integration_is_not_enabled_and_its_modes_are_not_saved(
    owner_client, integration
):
    Integration.objects.filter(pk=integration.pk).update(rally_project_oid=None)
    response = owner_client.post(
        step_url(integration, "enable"),
        {"outgoing_mode": "approve", "incoming_mode": "approve"},
    )
    assert response.status_code == 400
    assert "Choose a Rally project." in response.content.decode()
    integration.refresh_from_db()
    assert integration.state == IntegrationState.DRAFT
    assert integration.outgoing_mode == OutgoingMode.AUTOMATIC


def test_the_steps_progress_shows_done_and_current_steps_and_links_back(owner_client, integration):
    page = owner_client.get(step_url(integration, "enable")).content.decode()
    assert page.count('<li class="done') == 7
    assert 'aria-current="step"' in page
    assert f'href="{step_url(integration, "mappings")}"' in page
    assert 'rel="prev"' in page
    assert "Draft" in page
