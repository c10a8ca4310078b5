"""Settings sections saved through HTMX say so, as a full page would."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.workspaces.models import WorkflowStatus
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace

pytestmark = pytest.mark.browser


def test_adding_a_status_shows_its_message_without_a_page_load(page):
    owner = make_user("owner@example.com")
    make_workspace("Platform", "PLAT", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/workflows/")
    page.evaluate("window.loadedOnce = true")  # gone if the browser loads a new page

    section = page.locator("#workflow-feature")
    section.locator("#id_add-feature-name").fill("Blocked")
    section.get_by_role("button", name="Add status").click()

    expect(page.locator("#messages")).to_contain_text("Added the status Blocked.")
    expect(page.locator("#workflow-feature")).to_contain_text("Blocked")
    assert page.evaluate("window.loadedOnce") is True
    assert WorkflowStatus.objects.filter(name="Blocked", record_type="feature").exists()


def test_filtering_manage_integrations_swaps_the_report_in_place(page):
    from aharally.integrations.models import IntegrationState
    from tests.integrations.builders import configured_integration

    owner = make_user("owner@example.com")
    platform = make_workspace("Platform", "PLAT", owner=owner)
    configured_integration(platform, name="Enabled one", state=IntegrationState.ENABLED)
    configured_integration(platform, name="Draft one", state=IntegrationState.DRAFT)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/integrations/manage/")
    expect(page.locator("#report")).to_contain_text("Enabled one")
    page.evaluate("window.loadedOnce = true")  # gone if the browser loads a new page

    page.locator("#id_state").select_option("draft")

    expect(page.locator("#report")).not_to_contain_text("Enabled one")
    expect(page.locator("#report")).to_contain_text("Draft one")
    expect(page.locator("h1")).to_have_count(1)  # the report alone came back, once
    assert page.evaluate("window.loadedOnce") is True
    assert "state=draft" in page.url
