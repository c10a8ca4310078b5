"""Clicking through the wizard swaps its frame (the server's answer to HTMX), title and all."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace
from tests.integrations.wizard_support import draft, step_url

pytestmark = pytest.mark.browser

SUFFIX = " · Rally integration · aharally"


@pytest.fixture
def at_authorize(page, settings, rally_sandbox):
    """An owner on the Name step of a draft that has reached Authorize."""
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    integration = draft(workspace, owner, name="Rally", rally_url=rally_sandbox.base_url)
    sign_in(page, owner.email, PASSWORD, next_url=step_url(integration, "name"))
    # Set on this page load; a full navigation would forget it.
    page.evaluate("window.loadedOnce = true")
    return page, integration


def frame_of(answer) -> str:
    """The HTMX answer's body, checked to be the #wizard frame and not a whole page."""
    assert answer.request.all_headers().get("hx-request") == "true"
    body = answer.text()
    assert "<html" not in body and 'id="wizard"' in body
    return body


def test_stepping_through_by_clicking_swaps_the_frame_and_the_title(at_authorize):
    page, integration = at_authorize
    expect(page).to_have_title("Name" + SUFFIX)

    with page.expect_response(lambda r: r.url.endswith("/wizard/account/")) as answer:
        page.get_by_role("link", name="Next →").click()
    frame_of(answer.value)
    page.wait_for_url(f"**{step_url(integration, 'account')}")
    expect(page.get_by_role("heading", name="Configure account")).to_be_visible()
    expect(page).to_have_title("Configure account" + SUFFIX)

    # A boosted POST that redirects: XHR follows it, and the next step comes as a frame.
    with page.expect_response(lambda r: r.url.endswith("/wizard/authorize/")) as answer:
        page.get_by_role("button", name="Save and continue").click()
    frame_of(answer.value)
    page.wait_for_url(f"**{step_url(integration, 'authorize')}")
    expect(page.get_by_role("heading", name="Authorize", exact=True)).to_be_visible()
    expect(page).to_have_title("Authorize" + SUFFIX)

    # The progress bar's links and ← Back are boosted too.
    page.locator(".wizard-progress").get_by_role("link", name="Name").click()
    page.wait_for_url(f"**{step_url(integration, 'name')}")
    expect(page).to_have_title("Name" + SUFFIX)
    expect(page.get_by_label("Integration name")).to_have_value("Rally")

    # One #wizard, inside the settings page that was loaded once.
    assert page.locator("#wizard").count() == 1
    expect(page.locator(".settings nav.tabs")).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True

    # The browser's Back restores the previous step and its title.
    page.go_back()
    page.wait_for_url(f"**{step_url(integration, 'authorize')}")
    expect(page).to_have_title("Authorize" + SUFFIX)
    expect(page.get_by_role("heading", name="Authorize", exact=True)).to_be_visible()


def test_a_reload_is_the_whole_page(at_authorize):
    page, integration = at_authorize
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(f"**{step_url(integration, 'account')}")
    page.reload()
    expect(page).to_have_title("Configure account" + SUFFIX)
    expect(page.locator(".settings nav.tabs")).to_be_visible()
    assert page.locator("#wizard").count() == 1
    assert page.evaluate("window.loadedOnce") is None


def test_a_refused_post_comes_back_in_the_frame_with_its_message(at_authorize):
    page, integration = at_authorize
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(f"**{step_url(integration, 'account')}")
    page.get_by_label("Rally URL").fill("ftp://rally.example.com")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save and continue").click()
    assert answer.value.status == 400
    frame_of(answer.value)
    expect(page.locator("#wizard .field-error")).to_contain_text("must start with https://")
    expect(page).to_have_title("Configure account" + SUFFIX)
    assert page.locator("#wizard").count() == 1
    assert page.evaluate("window.loadedOnce") is True


def test_a_message_after_a_step_is_shown_in_the_frame(page, settings, rally_sandbox):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    integration = draft(workspace, owner, rally_url=rally_sandbox.base_url)
    sign_in(page, owner.email, PASSWORD, next_url=step_url(integration, "authorize"))
    page.evaluate("window.loadedOnce = true")
    page.get_by_text("Use an API key instead").click()
    page.get_by_label("Rally API key").fill(rally_sandbox.api_key)
    with page.expect_response(lambda r: r.url.endswith("/wizard/workspace/")) as answer:
        page.get_by_role("button", name="Save API key").click()
    frame_of(answer.value)
    page.wait_for_url(f"**{step_url(integration, 'workspace')}")
    expect(page.locator("#wizard .wizard-messages")).to_contain_text(
        "Authorized with an API key of Pat Manager."
    )
    expect(page).to_have_title("Choose a workspace" + SUFFIX)
    assert page.evaluate("window.loadedOnce") is True
