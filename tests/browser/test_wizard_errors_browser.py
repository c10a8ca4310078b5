"""Every refusal of a wizard step is seen: the 400 answer is swapped in, message and all."""

from __future__ import annotations

import socket

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace
from tests.integrations.wizard_support import draft, step_url

pytestmark = pytest.mark.browser


@pytest.fixture
def owner_page(page, settings):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PAY/settings/integrations/")
    page.owner, page.workspace = owner, workspace
    return page


def a_port_where_nothing_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_name_of_spaces_is_refused_with_a_visible_message(owner_page):
    page = owner_page
    page.goto("/w/PAY/settings/integrations/rally/new/")
    page.evaluate("window.loadedOnce = true")
    page.get_by_label("Integration name").fill("   ")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save and continue").click()
    assert answer.value.status == 400
    expect(page.get_by_text("Give the integration a name.")).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True  # an HTMX swap, not a page load


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("rally please", "A URL has no spaces"),
        ("rally1.rallydev.com", "Add https:// at the start of the Rally URL"),
        ("ftp://rally1.rallydev.com", "The Rally URL must start with https://."),
        ("http://127.0.0.1:{port}", "Could not reach http://127.0.0.1:{port}."),
    ],
)
def test_a_bad_rally_url_is_refused_with_a_visible_message(owner_page, typed, says):
    page = owner_page
    port = a_port_where_nothing_listens()
    integration = draft(page.workspace, page.owner)
    page.goto(step_url(integration, "account"))
    page.evaluate("window.loadedOnce = true")
    page.get_by_label("Rally URL").fill(typed.format(port=port))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save and continue").click()
    assert answer.value.status == 400
    expect(page.locator("#wizard .field-error")).to_contain_text(says.format(port=port))
    expect(page.locator("#wizard .field-error")).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True
    integration.refresh_from_db()
    assert integration.rally_url != typed.format(port=port)


def test_a_wrong_api_key_is_refused_with_a_visible_message(owner_page, rally_sandbox):
    page = owner_page
    integration = draft(page.workspace, page.owner, rally_url=rally_sandbox.base_url)
    page.goto(step_url(integration, "authorize"))
    page.get_by_text("Use an API key instead").click()
    page.get_by_label("Rally API key").fill("_NotAKeyRallyKnows0000000000000000000000000")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save API key").click()
    assert answer.value.status == 400
    error = page.locator("#wizard .field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Rally refused that credential.")
