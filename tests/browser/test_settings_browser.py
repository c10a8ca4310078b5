"""Settings sections saved through HTMX say so, as a full page would."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.workspaces.models import Membership, RequiredField, Role, WorkflowStatus
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, add_member, make_user, make_workspace

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


def test_a_status_without_a_name_shows_its_error_in_place_and_clears_old_messages(page):
    owner = make_user("owner@example.com")
    make_workspace("Platform", "PLAT", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/workflows/")
    page.evaluate("window.loadedOnce = true")  # gone if the browser loads a new page
    section = page.locator("#workflow-feature")
    section.locator("#id_add-feature-name").fill("Blocked")
    section.get_by_role("button", name="Add status").click()
    expect(page.locator("#messages")).to_contain_text("Added the status Blocked.")

    section.locator("#id_add-feature-name").fill("")
    section.get_by_role("button", name="Add status").click()

    expect(section.locator(".field-error")).to_contain_text("This field is required.")
    expect(page.locator("#messages")).not_to_contain_text("Added the status Blocked.")
    expect(page.locator("h1")).to_have_count(1)  # the section alone came back
    assert page.evaluate("window.loadedOnce") is True
    assert WorkflowStatus.objects.filter(record_type="feature").count() == 7


def test_moving_a_status_reorders_the_workflow_in_place(page):
    owner = make_user("owner@example.com")
    make_workspace("Platform", "PLAT", owner=owner)
    shipped = WorkflowStatus.objects.get(record_type="feature", name="Shipped")
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/workflows/")
    page.evaluate("window.loadedOnce = true")

    page.locator(f"#move-up-{shipped.pk}").click()

    rows = page.locator("#workflow-feature tbody tr")
    expect(rows.nth(3)).to_have_id(f"status-{shipped.pk}")
    assert page.evaluate("window.loadedOnce") is True


def test_changing_a_role_shows_its_message_and_the_list_in_place(page):
    owner = make_user("owner@example.com")
    platform = make_workspace("Platform", "PLAT", owner=owner)
    viewer = add_member(platform, make_user("viewer@example.com"), Role.VIEWER)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/members/")
    page.evaluate("window.loadedOnce = true")

    row = page.locator(f"#member-{viewer.pk}")
    row.get_by_label("Role of viewer@example.com").select_option(Role.CONTRIBUTOR)
    row.get_by_role("button", name="Change role").click()

    expect(page.locator("#messages")).to_contain_text("viewer@example.com is now Contributor.")
    expect(page.locator(f"#member-{viewer.pk} select")).to_have_value(Role.CONTRIBUTOR)
    expect(page.locator("h1")).to_have_count(1)
    assert page.evaluate("window.loadedOnce") is True
    assert Membership.objects.get(pk=viewer.pk).role == Role.CONTRIBUTOR


def test_demoting_the_last_owner_shows_the_refusal_in_place(page):
    owner = make_user("owner@example.com")
    platform = make_workspace("Platform", "PLAT", owner=owner)
    membership = Membership.objects.get(workspace=platform, user=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/members/")
    page.evaluate("window.loadedOnce = true")

    row = page.locator(f"#member-{membership.pk}")
    row.get_by_label("Role of owner@example.com").select_option(Role.VIEWER)
    row.get_by_role("button", name="Change role").click()

    expect(page.locator(f"#member-{membership.pk} .field-error")).to_contain_text("needs an owner")
    assert page.evaluate("window.loadedOnce") is True
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_saving_a_layout_shows_its_message_and_the_section_in_place(page):
    owner = make_user("owner@example.com")
    make_workspace("Platform", "PLAT", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/layouts/")
    page.evaluate("window.loadedOnce = true")

    section = page.locator("#layout-feature")
    section.locator('input[value="assignee"]').check()
    section.get_by_role("button", name="Save feature layout").click()

    expect(page.locator("#messages")).to_contain_text("Saved the feature layout.")
    expect(page.locator('#layout-feature input[value="assignee"]')).to_be_checked()
    assert page.evaluate("window.loadedOnce") is True
    assert RequiredField.objects.filter(record_type="feature", field_name="assignee").exists()


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
