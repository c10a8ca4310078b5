"""Acceptance: a new owner connects a workspace to Rally through the whole wizard, in Chromium,
against the running Rally sandbox — its sign-in and consent pages included."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Integration, IntegrationState, OutgoingMode
from aharally.statusmap.models import StatusMap
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace
from tests.integrations.wizard_support import TEST_CLIENT_SECRET, register_oauth_client

CLIENT_ID = "aharally-browser-tests"


@pytest.fixture
def wizard_site(settings, live_server, rally_sandbox):
    """The sandbox knows this live server's callback; aharally uses that OAuth client."""
    register_oauth_client(
        rally_sandbox,
        client_id=CLIENT_ID,
        redirect_uris=[live_server.url + "/integrations/rally/oauth/callback"],
    )
    settings.SITE_URL = live_server.url
    settings.RALLY_OAUTH_CLIENT_ID = CLIENT_ID
    settings.RALLY_OAUTH_CLIENT_SECRET = TEST_CLIENT_SECRET
    settings.RALLY_OAUTH_URL = rally_sandbox.base_url
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    return settings


def drag(page, source, target) -> None:
    """Drag with the mouse, in steps, as a person would (SortableJS runs on pointer events)."""
    target.scroll_into_view_if_needed()
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + 5, start["y"] + 5, steps=3)
    x, y = end["x"] + end["width"] - 8, end["y"] + end["height"] / 2
    page.mouse.move(x, y, steps=12)
    # SortableJS's pointer fallback looks under the pointer every 50 ms: linger like a hand.
    for offset in (1, 2, 3):
        page.wait_for_timeout(60)
        page.mouse.move(x - offset, y)
    page.mouse.up()


def save_and_continue(page, expected_url: str) -> None:
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(f"**{expected_url}")


def test_a_new_owner_connects_a_workspace_to_rally_through_the_whole_wizard(
    page, wizard_site, rally_sandbox, screenshot
):
    owner = make_user("new-owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PAY/settings/integrations/")

    # Settings → Workspace → Integrations → + Rally
    page.get_by_role("link", name="+ Rally").first.click()
    page.wait_for_url("**/integrations/rally/new/")
    page.get_by_label("Integration name").fill("Payments ↔ Rally")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/account/")
    integration = Integration.objects.get(workspace=workspace)
    assert integration.state == IntegrationState.DRAFT

    # Configure account
    page.get_by_label("Rally URL").fill(rally_sandbox.base_url)
    save_and_continue(page, "/wizard/authorize/")

    # Authorize: the sandbox's sign-in page, then its consent page.
    screenshot("wizard-3-authorize")
    page.get_by_role("button", name="Authorize with Rally").click()
    page.wait_for_url(f"{rally_sandbox.base_url}/login/oauth2/login**")
    page.get_by_label("Username or e-mail address").fill("pm@example.com")
    page.get_by_label("Password").fill("pm-demo-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url("**/wizard/workspace/")
    screenshot("wizard-4-workspace")
    assert "Authorized with Rally as Pat Manager" in page.content()

    # Choose a workspace, then a project (a tree) with Exclude child updates explained.
    page.get_by_label("Engineering").check()
    save_and_continue(page, "/wizard/project/")
    assert page.get_by_text("breaks the integration link").is_visible()
    screenshot("wizard-5-project")
    page.get_by_label("Platform", exact=True).check()
    save_and_continue(page, "/wizard/mappings/")

    # Mappings: the defaults are kept.
    screenshot("wizard-6-mappings")
    assert page.locator("#mapping-feature").is_visible()
    assert page.locator("#mapping-requirement").get_by_text("User Story").is_visible()
    save_and_continue(page, "/wizard/statuses/")

    # Status mapping: Measuring and Developing end on In development. The auto-match put
    # Developing there already (same stage, in order); Measuring is dragged onto it.
    board = page.locator("#statuses-feature")
    in_development = '#statuses-feature ul[data-status-name="In development"]'
    assert page.locator(f'{in_development} li[data-state="Developing"]').count() == 1
    source = board.locator('li.rally-state[data-state="Measuring"]')
    with page.expect_response(lambda r: "/statuses/assign/" in r.url) as answer:
        drag(page, source, page.locator(in_development))
    assert answer.value.status == 200
    page.locator(f'{in_development} li[data-state="Measuring"]').wait_for()
    # The keyboard alternative: a select per Rally state, saved on change.
    page.locator("#statuses-feature summary").click()
    with page.expect_response(lambda r: "/statuses/assign/" in r.url) as answer:
        page.locator("#statuses-feature").get_by_label("Discovering").select_option(
            label="Ready to develop"
        )
    assert answer.value.status == 200
    page.locator(
        '#statuses-feature ul[data-status-name="Ready to develop"] li[data-state="Discovering"]'
    ).wait_for()
    screenshot("wizard-7-statuses")
    feature_map = StatusMap.objects.get(
        record_mapping__integration=integration, record_mapping__record_type="feature"
    )
    incoming = {e.rally_state: e.status.name for e in feature_map.incoming.select_related("status")}
    assert incoming["Measuring"] == incoming["Developing"] == "In development"
    assert incoming["Discovering"] == "Ready to develop"
    save_and_continue(page, "/wizard/enable/")

    # Enable with Approve outgoing changes.
    page.get_by_role("button", name="Test connection").click()
    reachable = "the workspace “Engineering” and the project “Platform” are reachable"
    page.get_by_text(reachable).wait_for()
    page.get_by_label("Approve outgoing changes").check()
    screenshot("wizard-8-enable")
    page.get_by_role("button", name="Enable").click()
    page.wait_for_url("**/settings/integrations/manage/")
    screenshot("wizard-9-manage")

    integration.refresh_from_db()
    assert integration.state == IntegrationState.ENABLED
    assert integration.outgoing_mode == OutgoingMode.APPROVE
    assert integration.rally_workspace_name == "Engineering"
    assert integration.rally_project_name == "Platform"
    row = page.locator("table.report tr", has_text="Payments ↔ Rally")
    assert row.locator(".badge.state-enabled").inner_text() == "Enabled"
    assert "Engineering / Platform" in row.inner_text()

    # Re-authorize at any time: with a Rally session in this browser, no sign-in is asked.
    page.goto(f"/w/PAY/settings/integrations/{integration.pk}/wizard/authorize/")
    assert page.get_by_text("Authorized as Pat Manager").is_visible()
    page.get_by_role("button", name="Re-authorize with Rally").click()
    page.get_by_role("button", name="Allow access").click()
    # Back where Re-authorize is offered, the integration's settings, not inside the wizard.
    page.wait_for_url(f"**/w/PAY/settings/integrations/{integration.pk}/")
    assert page.get_by_text("Authorized with Rally as Pat Manager").is_visible()
