"""Custom fields in real Chromium: alice adds Risk to features, bob sets and filters by it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.records import custom
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, RecordChange
from aharally.workspaces.models import CustomField
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

LAYOUTS = "/w/PLAT/settings/layouts/"
BOARD = "/w/PLAT/features/board/"


def add_field(page, name: str, kind: str, choices: str = "") -> None:
    section = page.locator("#layout-feature")
    if section.locator("details.add-custom-field").get_attribute("open") is None:
        section.locator("summary", has_text="Add a feature field").click()
    section.locator("#id_add-feature-name").fill(name)
    section.locator("#id_add-feature-kind").select_option(label=kind)
    if choices:
        section.locator("#id_add-feature-choices").fill(choices)
    section.get_by_role("button", name="Add the field").click()


def test_alice_adds_risk_and_bob_sets_it_in_the_drawer_and_filters_the_board(page):
    seed_demo()
    sign_in(page, "alice@example.com", DEMO_PASSWORD, next_url=LAYOUTS)
    # A choice field without choices is refused where it was typed.
    add_field(page, "Risk", "Single choice")
    expect(page.get_by_text("A choice field needs at least one choice")).to_be_visible()
    assert not CustomField.objects.exists()
    add_field(page, "Risk", "Single choice", "Low\nMedium\nHigh")
    expect(page.locator("#messages")).to_contain_text("Added the field Risk.")
    add_field(page, "Budget", "Number")
    expect(page.locator("#messages")).to_contain_text("Added the field Budget.")

    page.context.clear_cookies()
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    card = page.locator(".card").first
    reference = card.get_attribute("data-reference")
    card.locator(".card-link").click()
    drawer = page.locator("#drawer")
    drawer.locator("#id_cf_risk").select_option(label="High")
    drawer.locator("#id_cf_budget").fill("123456789012345")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        drawer.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 422
    expect(drawer.get_by_text("Out of range")).to_be_visible()
    expect(drawer.get_by_text("Nothing was saved")).to_be_visible()
    feature = Feature.objects.get(workspace__prefix="PLAT", reference=reference)
    assert not RecordChange.objects.filter(object_id=feature.pk, field="cf_risk").exists()

    drawer.locator("#id_cf_budget").fill("1200")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        drawer.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 200
    expect(drawer.locator(".flash.success")).to_have_text("Saved.")
    expect(drawer.locator(".history")).to_contain_text("Risk")
    definitions = custom.definitions(feature.workspace_id, "feature")
    assert custom.read_values(feature.pk, definitions)["cf_risk"].name == "High"

    page.locator("#board-filters select[name=cf_risk]").select_option(label="Risk: High")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card")).to_have_attribute("data-reference", reference)
