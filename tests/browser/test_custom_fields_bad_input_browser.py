"""Issue 18, acceptance 3 in real Chromium: the bad inputs of custom fields not covered by the
other browser tests (a number out of range: test_custom_fields_browser.py; a mapping between
incompatible kinds: test_custom_field_mapping_browser.py) — a choice deleted while in use and a
required custom field left empty at create — each with its message on the page, losing nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.records import custom
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from aharally.records.services import update_record
from aharally.workspaces.custom_fields import add_custom_field
from aharally.workspaces.models import CustomFieldChoice, Role, Workspace
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

LAYOUTS = "/w/PLAT/settings/layouts/"
NEW_FEATURE = "/w/PLAT/features/new/"


def _risk(platform, *, required=False):
    return add_custom_field(
        workspace=platform,
        record_type="feature",
        name="Risk",
        kind="choice",
        choices=["Low", "Medium", "High"],
        required=required,
    )


def test_deleting_a_choice_in_use_asks_what_becomes_of_its_records(page):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    field = _risk(platform)
    high = field.choices.get(name="High")
    features = list(Feature.objects.filter(workspace=platform).order_by("pk")[:2])
    for feature in features:
        update_record(feature, changes={field.form_name: high}, user=alice)

    sign_in(page, alice.email, DEMO_PASSWORD, next_url=LAYOUTS)
    page.locator("#layout-feature").get_by_role("link", name="Delete High").click()
    expect(page.get_by_text("2 records have High")).to_be_visible()
    # "Give them another choice" without saying which: refused on the page, nothing lost.
    page.get_by_label("Give them another choice").check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Delete High").click()
    assert answer.value.status == 400
    expect(page.get_by_text("Choose the choice these records take instead.")).to_be_visible()
    assert CustomFieldChoice.objects.filter(pk=high.pk).exists()
    for feature in features:
        assert custom.read_values(feature.pk, [field])[field.form_name] == high

    page.get_by_label("Their new choice").select_option(label="Medium")
    page.get_by_role("button", name="Delete High").click()
    expect(page.locator("#messages")).to_contain_text(
        "Deleted the choice High and changed 2 record(s)."
    )
    medium = field.choices.get(name="Medium")
    for feature in features:
        assert custom.read_values(feature.pk, [field])[field.form_name] == medium


def test_a_required_custom_field_left_empty_at_create_is_refused_where_it_was_left(page):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    field = _risk(platform, required=True)
    before = Feature.objects.filter(workspace=platform).count()

    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=NEW_FEATURE)
    page.get_by_label("Name").fill("Checkout in one step")
    page.get_by_role("button", name="Create feature").click()

    refusal = page.locator(f"#id_{field.form_name}").locator(
        "xpath=ancestor::*[contains(@class, 'field')][1]"
    )
    expect(refusal).to_contain_text("This field is required by the workspace's custom layout.")
    assert Feature.objects.filter(workspace=platform).count() == before
    # What was typed is still there: only the missing choice is asked for.
    expect(page.get_by_label("Name")).to_have_value("Checkout in one step")
    page.locator(f"#id_{field.form_name}").select_option(label="Low")
    page.get_by_role("button", name="Create feature").click()
    expect(page.locator("#messages")).to_contain_text("Checkout in one step")
    created = Feature.objects.get(workspace=platform, name="Checkout in one step")
    assert custom.read_values(created.pk, [field])[field.form_name].name == "Low"
