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
