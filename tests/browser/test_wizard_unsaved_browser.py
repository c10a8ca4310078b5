"""A revisited wizard step's Next →, ← Back and progress links never drop edits silently."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.integrations.models import Integration
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace
from tests.integrations.wizard_support import draft, step_url

pytestmark = pytest.mark.browser


@pytest.fixture
def revisited_name_step(page, settings):
    settings.RALLY_ALLOW_HTTP = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    integration = draft(workspace, owner, name="Rally", rally_url="https://rally.example.com")
    sign_in(page, owner.email, PASSWORD, next_url=step_url(integration, "name"))
    expect(page.get_by_role("link", name="Next →")).to_be_visible()
    return page, integration


def test_next_after_an_edit_asks_first_and_staying_keeps_the_edit(revisited_name_step):
    page, integration = revisited_name_step
    page.get_by_label("Integration name").fill("Rally for payments")
    asked = []

    def stay(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("link", name="Next →").click()

    assert asked and "not saved" in asked[0]
    expect(page.get_by_role("heading", name="Name")).to_be_visible()
    expect(page.get_by_label("Integration name")).to_have_value("Rally for payments")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_label("Rally URL")).to_be_visible()
    integration.refresh_from_db()
    assert integration.name == "Rally"  # the user chose to leave without saving


def test_next_without_an_edit_goes_on_without_asking(revisited_name_step):
    page, _ = revisited_name_step
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_label("Rally URL")).to_be_visible()
    assert asked == []


def test_save_and_continue_after_an_edit_saves_without_asking(revisited_name_step):
    page, integration = revisited_name_step
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_label("Integration name").fill("Rally for payments")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_label("Rally URL")).to_be_visible()
    assert asked == []
    assert Integration.objects.get(pk=integration.pk).name == "Rally for payments"
