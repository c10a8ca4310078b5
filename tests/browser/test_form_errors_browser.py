"""One bad input on every HTMX form outside the wizard: the refusal is seen where it happened."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from aharally.statusmap.models import StatusMap
from aharally.workspaces.models import Membership, Role, WorkflowStatus, Workspace
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_release, make_user, make_workspace
from tests.integrations.wizard_support import reach, scoped, step_url

pytestmark = pytest.mark.browser

BOARD = "/w/PLAT/features/board/"


@pytest.fixture
def bob(page, transactional_db):
    seed_demo()
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    expect(page.locator(".card").first).to_be_visible()
    return page


def open_first_card(page):
    card = page.locator(".cards .card").first
    reference = card.get_attribute("data-reference")
    card.locator(".card-link").click()
    expect(page.locator("#drawer h2#drawer-title")).to_be_visible()
    return Feature.objects.get(reference=reference)


def post(page, click, *, status: int) -> None:
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        click()
    assert answer.value.status == status


def test_the_drawer_shows_an_empty_name_refused(bob):
    page = bob
    feature = open_first_card(page)
    drawer = page.locator("#drawer")
    drawer.locator("#id_name").fill("")
    post(page, drawer.get_by_role("button", name="Save changes").click, status=422)
    expect(drawer.get_by_text("This field is required.")).to_be_visible()
    assert Feature.objects.get(pk=feature.pk).name == feature.name


def test_the_features_own_page_shows_a_refusal_without_console_errors(bob):
    page = bob
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    feature = Feature.objects.filter(workspace__prefix="PLAT").first()
    page.goto(f"/w/PLAT/features/{feature.reference}/")
    page.locator("#id_estimate").fill("-1")
    post(page, page.get_by_role("button", name="Save changes").click, status=422)
    expect(page.get_by_text("An estimate cannot be negative.")).to_be_visible()
    page.locator("#id_estimate").fill("3")
    post(page, page.get_by_role("button", name="Save changes").click, status=200)
    expect(page.locator(".flash.success")).to_have_text("Saved.")
    assert not [e for e in errors if "oob" in e.lower()], errors


def test_a_requirement_edit_shows_an_empty_name_refused(bob):
    page = bob
    open_first_card(page)
    row = page.locator("#drawer .requirement").first
    with page.expect_response(lambda r: "?edit" in r.url):
        row.get_by_role("link", name="Edit").click()
    form = page.locator("#drawer .requirement.editing")
    form.locator("input[name$='-name']").fill("")
    post(page, form.get_by_role("button", name="Save requirement").click, status=422)
    expect(page.locator("#drawer .requirement.editing .field-error")).to_be_visible()


def test_the_bulk_bar_shows_a_release_deleted_meanwhile(bob):
    page = bob
    gone = make_release(Workspace.objects.get(prefix="PLAT"), name="Soon gone")
    page.reload()
    page.locator(".card-select").first.check()
    page.select_option("#bulk-action", "move")
    page.locator("select[name=move-release]").select_option(str(gone.pk))
    gone.delete()  # someone else deleted it while the page was open
    post(page, page.locator("#bulk-form button[type=submit]").click, status=422)
    expect(page.locator("#bulk-result")).to_contain_text("Choose a release of this workspace.")


def test_a_role_taken_away_meanwhile_is_said_on_save(bob):
    page = bob
    open_first_card(page)
    Membership.objects.filter(user__email="bob@example.com").update(role=Role.VIEWER)
    drawer = page.locator("#drawer")
    drawer.locator("#id_name").fill("Renamed")
    post(page, drawer.get_by_role("button", name="Save changes").click, status=403)
    expect(page.locator("#messages [role=alert]")).to_have_text(
        "Your role in this workspace does not allow editing features."
    )


def test_a_settings_section_shows_an_empty_status_name_refused(page):
    owner = make_user("owner@example.com")
    make_workspace("Platform", "PLAT", owner=owner)
    sign_in(page, owner.email, PASSWORD, next_url="/w/PLAT/settings/workflows/")
    section = page.locator("#workflow-feature")
    section.locator("#id_add-feature-name").fill("")
    post(page, section.get_by_role("button", name="Add status").click, status=400)
    expect(
        page.locator("#workflow-feature .field-error, #workflow-feature .form-errors").first
    ).to_be_visible()
    assert WorkflowStatus.objects.filter(record_type="feature", name="").count() == 0


def test_the_status_mapping_shows_a_rally_state_that_is_gone(page, settings, rally_sandbox):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    integration = reach(scoped(workspace, owner, rally_sandbox), "statuses")
    sign_in(page, owner.email, PASSWORD, next_url=step_url(integration, "mappings"))
    page.goto(step_url(integration, "statuses"))
    board = page.locator("#statuses-feature")
    select = board.locator("form.sends select").first
    # Rally dropped a state after the page was drawn: the select still offers it.
    select.evaluate("s => s.add(new Option('Withdrawn', 'Withdrawn'))")
    with page.expect_response(lambda r: "/statuses/sends/" in r.url) as answer:
        select.select_option("Withdrawn")
    assert answer.value.status == 400
    expect(page.locator("#statuses-feature [role=alert]")).to_contain_text(
        "Rally has no state “Withdrawn” here."
    )
    assert StatusMap.objects.filter(record_mapping__integration=integration).exists()
