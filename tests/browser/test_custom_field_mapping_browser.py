"""Issue 18, acceptance 1 (and a bad input of 3) in real Chromium, with the sandbox: alice adds
Risk to features, maps it to Rally's c_RiskLevel with a value map, bob sets it, the developer
changes it in Rally, and a Rally value no choice maps to is left out with a history line."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.records import custom
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import Role, Workspace
from tests.browser.conftest import sign_in
from tests.browser.test_custom_fields_browser import add_field
from tests.browser.test_wizard_browser import drag
from tests.integrations.wizard_support import step_url
from tests.sync.support import connect, sandbox_client

pytestmark = pytest.mark.browser

LAYOUTS = "/w/PLAT/settings/layouts/"
BOARD = "/w/PLAT/features/board/"


def _rally_risk(sandbox, link) -> str | None:
    with sandbox_client(sandbox) as client:
        found = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["c_RiskLevel"])
    return found.get("c_RiskLevel")


def _set_rally_risk(sandbox, link, value: str) -> None:
    with sandbox_client(sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"c_RiskLevel": value})


def _risk_levels(sandbox, values: list[str]) -> None:
    """A Rally administrator changes c_RiskLevel's allowed values on features."""
    response = sandbox.admin(
        "POST",
        "/sandbox-admin/custom-fields",
        json={
            "workspace": "Engineering",
            "type": "PortfolioItem/Feature",
            "name": "Risk Level",
            "kind": "DROP_DOWN",
            "allowed_values": values,
        },
    )
    assert response.status_code in (200, 201), response.text


def _open_field_mappings(page):
    row = page.locator("#mapping-feature + tr")
    if row.locator("details.field-mappings").get_attribute("open") is None:
        row.locator("details.field-mappings > summary").click()
    return row


def _map_with_keyboard(page, choice: str, value: str) -> None:
    board = page.locator("section.value-map")
    board.locator("details.keyboard-mapping > summary").click()
    with page.expect_response(lambda r: "/values/" in r.url) as answer:
        board.get_by_label(choice, exact=True).select_option(value)
    assert answer.value.status == 200
    page.locator(
        f'section.value-map ul[data-status="{value}"] li.rally-state', has_text=choice
    ).wait_for()


def test_alice_maps_risk_to_rallys_risk_level_and_values_go_both_ways(
    page, settings, sync_sandbox, screenshot
):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    integration = connect(platform, sync_sandbox, owner=alice)
    feature = Feature.objects.filter(workspace=platform).order_by("pk").first()
    bob = platform.memberships.get(user__email="bob@example.com").user
    outbox.request_send(record=feature, integration=integration, user=bob)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type="feature", record_id=feature.pk)

    # alice adds Risk to features, then maps it in the integration's mapping step.
    sign_in(page, alice.email, DEMO_PASSWORD, next_url=LAYOUTS)
    add_field(page, "Risk", "Single choice", "Low\nMedium\nHigh")
    expect(page.locator("#messages")).to_contain_text("Added the field Risk.")
    page.goto(step_url(integration, "mappings"))
    row = _open_field_mappings(page)
    form = row.locator("form.add-field-mapping")
    # A kind Rally's field can't hold is refused on the form, and nothing is saved.
    form.get_by_label("aharally field", exact=True).select_option(label="Risk (single choice)")
    form.get_by_label("Rally field", exact=True).select_option("PlannedStartDate")
    with page.expect_response(lambda r: "/fields/add/" in r.url) as answer:
        form.get_by_role("button", name="Add field mapping").click()
    assert answer.value.status == 400
    refusal = row.locator("form.add-field-mapping .field-error")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text(
        "Risk is a single choice field; Rally's Planned Start Date is DATE: map it to a "
        "drop-down or string field."
    )
    screenshot("custom-mapping-refused")
    form = row.locator("form.add-field-mapping")
    form.get_by_label("Rally field", exact=True).select_option("c_RiskLevel")
    form.get_by_label("Direction").select_option("both")
    form.get_by_role("button", name="Add field mapping").click()
    expect(page.locator("#messages")).to_contain_text("Risk now maps to Rally's c_RiskLevel.")

    # The value map, like the status map: Low and Medium with the keyboard, High dragged.
    _open_field_mappings(page)
    _map_with_keyboard(page, "Low", "Green")
    _map_with_keyboard(page, "Medium", "Amber")
    high = page.locator("section.value-map li.rally-state", has_text="High")
    with page.expect_response(lambda r: "/values/" in r.url) as answer:
        drag(page, high, page.locator('section.value-map ul[data-status="Red"]'))
    assert answer.value.status == 200
    page.locator('section.value-map ul[data-status="Red"] li', has_text="High").wait_for()
    screenshot("custom-value-map")

    # bob sets High on the linked feature: Rally's value is Red.
    page.context.clear_cookies()
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    page.locator(f"[data-reference='{feature.reference}'] .card-link").click()
    drawer = page.locator("#drawer")
    drawer.locator("#id_cf_risk").select_option(label="High")
    drawer.get_by_role("button", name="Save changes").click()
    expect(drawer.locator(".flash.success")).to_have_text("Saved.")
    drain_outbox(integration.pk)
    assert _rally_risk(sync_sandbox, link) == "Red"

    # The developer sets Green in Rally: after the catch-up aharally shows Low.
    _set_rally_risk(sync_sandbox, link, "Green")
    pull_updates(integration.pk)
    page.reload()
    page.locator(f"[data-reference='{feature.reference}'] .card-link").click()
    expect(drawer.locator("#id_cf_risk option:checked")).to_have_text("Low")

    # A value Rally gained that no choice maps to: Risk stays Low, and the history says so.
    _risk_levels(sync_sandbox, ["Green", "Amber", "Red", "Purple"])
    try:
        _set_rally_risk(sync_sandbox, link, "Purple")
        pull_updates(integration.pk)
    finally:
        _risk_levels(sync_sandbox, ["Green", "Amber", "Red"])
    page.reload()
    page.locator(f"[data-reference='{feature.reference}'] .card-link").click()
    expect(drawer.locator("#id_cf_risk option:checked")).to_have_text("Low")
    drawer.locator(".integrations-menu details.menu > summary").click()
    drawer.locator(".integration-history summary").click()
    expect(drawer.locator(".integration-history")).to_contain_text(
        "Not applied from Rally: “Purple” has no mapping for Risk (Rally's c_RiskLevel): Risk is "
        "left as it was."
    )
    screenshot("custom-unmapped-history")
    definitions = custom.definitions(platform.pk, "feature")
    assert custom.read_values(feature.pk, definitions)["cf_risk"].name == "Low"
