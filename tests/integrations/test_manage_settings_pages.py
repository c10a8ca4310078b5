from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationState
from aharally.integrations.templates_service import attach_template
from aharally.workspaces.models import RecordType
from tests.factories import make_workspace
from tests.integrations.builders import add_mapping, configured_integration, move_state


def _url(name: str, integration: Integration) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


@pytest.fixture
def integration(cast):
    return configured_integration(cast.workspace, name="Platform Rally")


def test_the_integrations_page_lists_the_workspace_integrations_with_their_state(
    owner_client, cast, integration
):
    Integration.objects.create(workspace=cast.workspace, name="Half done")
    configured_integration(cast.other_workspace, name="Not ours")
    page = owner_client.get(reverse("integrations:index", kwargs={"prefix": "PLAT"}))
    html = page.content.decode()
    assert "Platform Rally" in html and "Half done" in html
    assert "Not ours" not in html
    assert "Enabled" in html and "Draft" in html
    assert reverse("integrations:manage", kwargs={"prefix": "PLAT"}) in html
    assert f'href="{reverse("integrations:wizard_new", kwargs={"prefix": "PLAT"})}"' in html


def test_the_settings_page_summarises_every_wizard_step(owner_client, integration):
    html = owner_client.get(_url("settings", integration)).content.decode()
    for text in (
        "https://rally.example.com",
        "as Rally user pm@example.com",
        "Engineering",
        "Platform",
        "Feature ↔ Feature",
        "HierarchicalRequirement",
        "Relationship links: Feature → Requirement",
        "Automatically send outgoing changes",
        "Automatically import new records",
        "Discovering",
        "More options",
        "Use as template",
        "Set client certificate",
        "Disable",
        "Delete…",
        # Comments and attachments: both ways unless the field mappings say otherwise.
        'Comments <span class="muted">(Both ways)</span>',
        'Attachments <span class="muted">(Both ways)</span>',
    ):
        assert text in html, text


def test_use_as_template_from_the_more_options_menu(owner_client, integration):
    response = owner_client.post(_url("make_template", integration))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.is_template
    html = owner_client.get(response["Location"]).content.decode()
    assert "is now an integration template" in html
    assert "Stop using as template" in html


def test_a_draft_can_not_become_a_template_and_says_why(owner_client, cast):
    draft = Integration.objects.create(workspace=cast.workspace, name="Draft")
    response = owner_client.post(_url("make_template", draft), follow=True)
    assert "Finish configuring" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.is_template


def test_a_template_status_mapping_change_shows_on_both_settings_pages(
    owner_client, cast, integration
):
    owner_client.post(_url("make_template", integration))
    company = make_workspace("Company", "COMP", owner=cast.owner)
    derived = attach_template(
        integration=Integration.objects.create(workspace=company, name="Company Rally"),
        template=Integration.objects.get(pk=integration.pk),
        by=cast.owner,
    )
    derived.state = IntegrationState.ENABLED
    derived.save()
    move_state(integration, RecordType.FEATURE, "Measuring", "Will not implement")
    for page in (_url("settings", integration), _url("settings", derived)):
        html = owner_client.get(page).content.decode()
        assert "<tr><td>Will not implement</td><td>Measuring</td>" in html, page
    html = owner_client.get(_url("settings", derived)).content.decode()
    assert "Built on the template" in html
    # Steps the template configures can't be edited on the derived integration.
    assert "Use as template" not in html


def test_disable_and_enable_again(owner_client, integration):
    owner_client.post(_url("disable", integration))
    integration.refresh_from_db()
    assert integration.state == IntegrationState.DISABLED
    assert integration.log.get().level == "warning"
    owner_client.post(_url("enable", integration))
    integration.refresh_from_db()
    assert integration.state == IntegrationState.ENABLED


def test_a_draft_is_not_enabled_from_the_settings_page(owner_client, cast):
    draft = Integration.objects.create(workspace=cast.workspace, name="Draft")
    response = owner_client.post(_url("enable", draft), follow=True)
    assert "Finish the wizard" in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == IntegrationState.DRAFT


def test_delete_asks_for_confirmation_then_deletes(owner_client, integration):
    page = owner_client.get(_url("delete", integration))
    assert "can't be undone" in page.content.decode()
    assert Integration.objects.filter(pk=integration.pk).exists()
    response = owner_client.post(_url("delete", integration))
    assert response["Location"] == reverse("integrations:index", kwargs={"prefix": "PLAT"})
    assert not Integration.objects.filter(pk=integration.pk).exists()


def test_a_template_in_use_is_not_deleted(owner_client, cast, integration):
    owner_client.post(_url("make_template", integration))
    derived = attach_template(
        integration=Integration.objects.create(
            workspace=make_workspace("Company", "COMP", owner=cast.owner), name="Company Rally"
        ),
        template=Integration.objects.get(pk=integration.pk),
        by=cast.owner,
    )
    assert "Company Rally" in owner_client.get(_url("delete", integration)).content.decode()
    response = owner_client.post(_url("delete", integration), follow=True)
    assert "delete them first" in response.content.decode()
    assert Integration.objects.filter(pk__in=[integration.pk, derived.pk]).count() == 2


def test_check_connection_on_an_unauthorized_draft_says_what_is_missing(owner_client, cast):
    draft = Integration.objects.create(workspace=cast.workspace, name="Draft")
    response = owner_client.post(_url("check", draft), follow=True)
    assert "not authorized" in response.content.decode()


def test_a_refused_credential_asks_for_re_authorization_and_logs_it_once(
    owner_client, cast, rally_sandbox
):
    integration = configured_integration(
        cast.workspace,
        "Refused",
        rally_url=rally_sandbox.base_url,
        auth_method="api_key",
        api_key="_not-a-key-the-sandbox-knows-123456",
        rally_workspace_oid=None,
        rally_project_oid=None,
    )
    response = owner_client.post(_url("check", integration), follow=True)
    html = response.content.decode()
    assert "Authorize the integration again" in html
    assert "Needs re-authorization" in html
    assert integration.log.filter(level="error").count() == 1


def test_the_settings_page_costs_the_same_queries_whatever_the_mappings(owner_client, integration):
    owner_client.get(_url("settings", integration))
    with CaptureQueriesContext(connection) as few:
        owner_client.get(_url("settings", integration))
    add_mapping(integration, RecordType.EPIC, "PortfolioItem/Epic", ["Discovering", "Done"])
    add_mapping(integration, RecordType.INITIATIVE, "PortfolioItem/Initiative", ["Done"])
    with CaptureQueriesContext(connection) as many:
        html = owner_client.get(_url("settings", integration)).content.decode()
    assert "PortfolioItem/Initiative" in html
    assert len(many) == len(few), (len(few), len(many))


def test_the_integrations_page_costs_the_same_queries_for_1_or_11_integrations(
    owner_client, cast, integration
):
    url = reverse("integrations:index", kwargs={"prefix": "PLAT"})
    owner_client.get(url)
    with CaptureQueriesContext(connection) as few:
        owner_client.get(url)
    for number in range(10):
        Integration.objects.create(workspace=cast.workspace, name=f"Draft {number}")
    with CaptureQueriesContext(connection) as many:
        assert "Draft 9" in owner_client.get(url).content.decode()
    assert len(many) == len(few)
