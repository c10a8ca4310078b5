"""The Content Security Policy is on every page, and the board, drawer and wizard work under it.

The `page` fixture fails any browser test whose pages the policy blocked something on; this
file walks the pages the policy could break and shows that a violation is caught.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from tests.browser.conftest import sign_in

BOARD = "/w/PLAT/features/board/"


@pytest.fixture
def demo(transactional_db):
    seed_demo()


def _policy(response) -> str:
    return response.headers.get("content-security-policy", "")


def test_the_board_and_the_drawer_work_under_the_policy(page, demo):
    sign_in(page, "alice@example.com", DEMO_PASSWORD, next_url=BOARD)
    response = page.goto(BOARD)
    policy = _policy(response)
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    card = page.locator(".card").first
    expect(card).to_be_visible()
    # Status colours arrive through the CSSOM (no inline style attribute is allowed).
    colour = card.get_attribute("data-status-color")
    assert card.evaluate("c => c.style.getPropertyValue('--status')") == colour

    reference = card.get_attribute("data-reference")
    card.locator("a").first.click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("h2#drawer-title")).to_be_visible()
    panel = drawer.locator(".feature-panel")
    # The colour is set on htmx:load, which fires after the swap settles: the title can be
    # visible a moment before it.
    page.wait_for_function(
        "p => p.style.getPropertyValue('--status') !== ''", arg=panel.element_handle()
    )
    with page.expect_response(lambda r: r.request.method == "POST"):
        drawer.locator("select[name=status]").select_option(index=1)
    moved = page.locator(f"[data-reference='{reference}']")
    expect(moved).to_have_attribute(
        "data-status-color", Feature.objects.get(reference=reference).status.color
    )
    assert page.csp_violations == []


def test_the_wizard_works_under_the_policy(page, demo, settings, rally_sandbox):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    sign_in(page, "alice@example.com", DEMO_PASSWORD, next_url="/w/PLAT/settings/integrations/")
    page.get_by_role("link", name="+ Rally").first.click()
    page.wait_for_url("**/integrations/rally/new/")
    page.get_by_label("Integration name").fill("Under the policy")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/account/")
    page.get_by_label("Rally URL").fill(rally_sandbox.base_url)
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/authorize/")
    page.locator("summary", has_text="Use an API key instead").click()
    page.get_by_label("Rally API key").fill(rally_sandbox.api_key)
    page.get_by_role("button", name="Save API key").click()
    page.wait_for_url("**/wizard/workspace/")
    page.get_by_label("Engineering").check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/project/")
    page.get_by_label("Platform", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/mappings/")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/statuses/")
    swatch = page.locator("#statuses-feature .status").first
    assert swatch.evaluate("s => s.style.getPropertyValue('--status-color')") != ""
    response = page.reload()
    assert "default-src 'self'" in _policy(response)
    assert page.csp_violations == []


def test_an_inline_style_or_script_is_blocked_and_reported(page, demo):
    sign_in(page, "alice@example.com", DEMO_PASSWORD, next_url=BOARD)
    page.evaluate(
        """() => {
          document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.inlineRan") is None
    assert any("style-src" in v for v in page.csp_violations)
    assert any("script-src" in v for v in page.csp_violations)
    page.csp_violations.clear()
