"""Acceptance 2: bob drags, edits in the drawer and moves cards in bulk, in real Chromium."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Release
from aharally.workspaces.models import WorkflowStatus
from tests.browser.conftest import sign_in
from tests.factories import make_link
from tests.integrations.builders import configured_integration

BOARD = "/w/PLAT/features/board/"


@pytest.fixture
def demo(transactional_db):
    seed_demo()
    releases = list(Release.objects.filter(workspace__prefix="PLAT"))  # parking lot last
    return releases


@pytest.fixture
def bob(page, demo):
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    expect(page.locator(".card").first).to_be_visible()
    return page


def column_header(page, release) -> str:
    """The column's count and estimate total as shown."""
    column = page.locator(".column", has=page.locator(f'.cards[data-release="{release.pk}"]'))
    return (
        column.locator(".column-count").inner_text()
        + " "
        + (column.locator("[data-column-estimate-total]").inner_text())
    )


def column_references(page, release) -> list[str]:
    return page.locator(f'.cards[data-release="{release.pk}"] .card').evaluate_all(
        "cards => cards.map(card => card.dataset.reference)"
    )


def drag(page, source, target) -> None:
    """Drag with real mouse events, in small steps, as SortableJS's fallback expects."""
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + 20, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 3, steps=20)
    page.mouse.up()


def test_bob_drags_a_feature_to_another_release_and_it_stays_after_a_reload(bob, demo, screenshot):
    page = bob
    screenshot("board")
    first, second = demo[0], demo[1]
    moving = page.locator(f'.cards[data-release="{first.pk}"] .card').first
    reference = moving.get_attribute("data-reference")
    target = page.locator(f'.cards[data-release="{second.pk}"] .card').nth(1)

    with page.expect_response(lambda r: r.url.endswith("/board/move/")) as move:
        drag(page, moving, target)
    assert move.value.status == 200
    after_drop = column_references(page, second)
    assert reference in after_drop
    headers = (column_header(page, first), column_header(page, second))

    page.reload()
    expect(page.locator(".card").first).to_be_visible()
    assert column_references(page, second) == after_drop
    # Counts and estimate totals were updated on the spot, as the server now shows them.
    assert (column_header(page, first), column_header(page, second)) == headers
    assert reference not in column_references(page, first)
    assert Feature.objects.get(reference=reference).release == second


def test_bob_moves_cards_with_the_keyboard_and_the_move_dialog(bob, demo):
    page = bob
    column, other = demo[0], demo[1]
    before = column_references(page, column)
    page.locator(f"[data-reference='{before[0]}'] .card-link").focus()
    with page.expect_response(lambda r: r.url.endswith("/board/move/")) as move:
        page.keyboard.press("Alt+ArrowDown")
    assert move.value.status == 200
    expected = [before[1], before[0], *before[2:]]
    assert column_references(page, column) == expected

    # The Move button opens a dialog that can send the card to another release.
    card = page.locator(f"[data-reference='{before[2]}']")
    card.hover()
    card.locator("[data-move]").click()
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("[data-move-release]").select_option(str(other.pk))
    with page.expect_response(lambda r: r.url.endswith("/board/move/")) as move:
        dialog.locator("[data-move-to-release]").click()
    assert move.value.status == 200
    expect(dialog).to_be_hidden()
    expected.remove(before[2])

    page.reload()
    expect(page.locator(".card").first).to_be_visible()
    assert column_references(page, column) == expected
    assert column_references(page, other)[-1] == before[2]


def test_bob_changes_a_status_in_the_drawer_and_the_card_changes_colour(bob, demo, screenshot):
    page = bob
    card = page.locator(f'.cards[data-release="{demo[0].pk}"] .card').first
    reference = card.get_attribute("data-reference")
    shipped = WorkflowStatus.objects.get(
        workspace__prefix="PLAT", record_type="feature", name="Shipped"
    )
    assert Feature.objects.get(reference=reference).status != shipped

    card.locator(".card-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("h2#drawer-title")).to_be_visible()
    expect(drawer.locator(".requirement").first).to_be_visible()
    screenshot("drawer")
    with page.expect_response(lambda r: r.request.method == "POST"):
        drawer.locator("select[name=status]").select_option(label="Shipped")

    card = page.locator(f"[data-reference='{reference}']")
    expect(card).to_have_attribute("data-status-color", shipped.color)
    colour = card.evaluate("card => getComputedStyle(card).borderLeftColor")
    assert colour == "rgb(39, 174, 96)"  # #27ae60
    expect(drawer.locator(".flash.success")).to_have_text("Saved.")
    assert Feature.objects.get(reference=reference).status == shipped


def test_bob_selects_three_cards_and_moves_them_to_another_release_at_once(bob, demo, screenshot):
    page = bob
    lot, target = demo[-1], demo[2]
    chosen = column_references(page, lot)[:3]
    for reference in chosen:
        page.locator(f"[data-reference='{reference}'] .card-select").check()
    bar = page.locator("#bulk-form")
    expect(bar).to_be_visible()
    expect(bar.locator("[data-selected-count]")).to_have_text("3")
    screenshot("bulk-bar")

    page.select_option("#bulk-action", "move")
    bar.locator("select[name=move-release]").select_option(str(target.pk))
    bar.locator("button[type=submit]").click()

    expect(page.locator("#bulk-result")).to_have_text(f"Moved 3 features to {target.name}")
    page.wait_for_function(
        "ids => ids.every(ref => document.querySelector("
        f"'.cards[data-release=\"{target.pk}\"] [data-reference=\"' + ref + '\"]'))",
        arg=chosen,
    )
    assert column_references(page, target)[-3:] == chosen
    expect(bar).to_be_hidden()
    moved = Feature.objects.filter(reference__in=chosen, release=target)
    assert moved.count() == 3


def test_an_estimate_changed_in_the_drawer_moves_the_columns_total_at_once(bob, demo):
    page = bob
    column = demo[0]
    card = page.locator(f'.cards[data-release="{column.pk}"] .card').first
    feature = Feature.objects.get(reference=card.get_attribute("data-reference"))
    total = page.locator(
        ".column", has=page.locator(f'.cards[data-release="{column.pk}"]')
    ).locator("[data-column-estimate-total]")
    before = Decimal(total.inner_text())
    card.locator(".card-link").click()
    drawer = page.locator("#drawer")
    drawer.locator("#id_estimate").fill(str(feature.estimate + 10))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        drawer.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 200
    expect(total).to_have_text(f"{before + 10:f}".rstrip("0").rstrip("."))


def test_a_negative_estimate_in_the_drawer_is_refused_where_it_was_typed(bob, demo):
    page = bob
    card = page.locator(f'.cards[data-release="{demo[0].pk}"] .card').first
    feature = Feature.objects.get(reference=card.get_attribute("data-reference"))
    card.locator(".card-link").click()
    drawer = page.locator("#drawer")
    drawer.locator("#id_estimate").fill("-2")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        drawer.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 422
    expect(drawer.get_by_text("An estimate cannot be negative.")).to_be_visible()
    expect(drawer.get_by_text("Nothing was saved")).to_be_visible()
    assert Feature.objects.get(pk=feature.pk).estimate == feature.estimate


def test_bob_moves_more_than_a_thousand_selected_cards_at_once(page, demo):
    """More cards than Django's 1,000 form fields: the selection still reaches the action."""
    lot, target = demo[-1], demo[2]
    workspace = lot.workspace
    status = WorkflowStatus.objects.filter(workspace=workspace, record_type="feature").first()
    Feature.objects.bulk_create(
        Feature(
            workspace=workspace,
            number=5000 + n,
            reference=f"PLAT-{5000 + n}",
            name=f"Bulk {n}",
            release=lot,
            status=status,
            rank=float(10_000 + n),
        )
        for n in range(1000)
    )
    selected = Feature.objects.filter(release=lot).count()
    assert selected > 1000
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    page.locator(f'.cards[data-release="{lot.pk}"] .card-select').first.wait_for()
    page.locator(f'.cards[data-release="{lot.pk}"] .card-select').evaluate_all(
        "boxes => boxes.forEach(box => box.click())"
    )
    bar = page.locator("#bulk-form")
    expect(bar.locator("[data-selected-count]")).to_have_text(str(selected))
    expect(bar).to_contain_text("at most 5,000 at a time")
    page.select_option("#bulk-action", "move")
    bar.locator("select[name=move-release]").select_option(str(target.pk))
    bar.locator("button[type=submit]").click()

    expect(page.locator("#bulk-result")).to_have_text(
        f"Moved {selected} features to {target.name}", timeout=30_000
    )
    assert not Feature.objects.filter(release=lot).exists()


@pytest.mark.parametrize("percent", [0, 50])
def test_a_cards_rally_progress_reads_at_a_glance_and_to_a_screen_reader(page, demo, percent):
    """The bar has a visible track even at 0%, its percentage is written, not a tooltip."""
    workspace = demo[0].workspace
    feature = Feature.objects.filter(workspace=workspace).order_by("pk").first()
    integration = configured_integration(workspace)
    make_link(
        integration,
        feature,
        rally_oid=777,
        progress={"count": percent / 100, "stories": 4, "accepted": percent * 4 // 100},
    )
    sign_in(page, "dave@example.com", DEMO_PASSWORD, next_url=BOARD)
    bar = page.locator(f"[data-reference='{feature.reference}'] [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", str(percent))
    expect(bar).to_have_attribute(
        "aria-valuetext", f"{percent}% done in Rally: {percent * 4 // 100} of 4 stories accepted"
    )
    expect(bar).to_contain_text(f"{percent}%")
    track = bar.locator(".rally-bar-track").bounding_box()
    fill = bar.locator(".rally-bar-fill").bounding_box()
    assert track["height"] >= 6 and track["width"] >= 40  # a bar, not a thin rule
    assert abs(fill["width"] - (track["width"] - 2) * percent / 100) <= 1
    colour = bar.locator(".rally-bar-track").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    # The record's page says the same, the same way.
    page.goto(f"/w/PLAT/features/{feature.reference}/")
    on_page = page.locator(".integrations-menu [role=progressbar]")
    expect(on_page).to_have_attribute("aria-valuenow", str(percent))
    expect(on_page).to_contain_text(f"{percent}%")


def test_a_rich_text_edit_of_a_linked_feature_says_when_it_sends_and_sends_now_on_request(
    page, demo, settings
):
    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 300
    workspace = demo[0].workspace
    feature = Feature.objects.filter(workspace=workspace).order_by("pk").first()
    make_link(configured_integration(workspace), feature, rally_oid=778)
    sign_in(
        page, "bob@example.com", DEMO_PASSWORD, next_url=f"/w/PLAT/features/{feature.reference}/"
    )
    editor = page.locator("[contenteditable=true]").first
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type(" Also for admins.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.locator(".integrations-menu summary").first.click()
    menu = page.locator(".integrations-menu").first
    expect(menu.get_by_role("status")).to_have_text("Sends in 5 min —")
    menu.get_by_role("button", name="Send now").click()
    expect(menu.get_by_role("status").first).to_have_text("Sending to Rally…")


def test_a_formatted_id_in_other_digits_is_refused_where_it_was_typed(page, demo):
    workspace = demo[0].workspace
    feature = Feature.objects.filter(workspace=workspace).order_by("pk").first()
    configured_integration(workspace)
    url = f"/w/PLAT/features/{feature.reference}/"
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=url)
    page.locator(".integrations-menu summary").first.click()
    form = page.locator("form.link-existing")
    form.locator("input[name=formatted_id]").fill("F\u0661\u0662")
    form.get_by_role("button", name="Link").click()
    expect(page.locator(".integrations-menu [role=alert]")).to_have_text(
        "Enter a Rally FormattedID such as F12 or US345."
    )
