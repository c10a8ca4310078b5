"""Comments and attachments in the board's drawer, as bob uses them: refusals shown where they
happened, a comment and a dropped file landing in the thread and on the card."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.discussion.models import Attachment, Comment
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

BOARD = "/w/PLAT/features/board/"


@pytest.fixture
def drawer(page, transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")
    settings.ATTACHMENT_MAX_BYTES = 1000
    seed_demo()
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    card = page.locator(".cards .card").first
    reference = card.get_attribute("data-reference")
    card.locator(".card-link").click()
    expect(page.locator("#drawer h2#drawer-title")).to_be_visible()
    feature = Feature.objects.get(reference=reference)
    return page, feature, page.locator(f"#discussion-feature-{feature.pk}")


def post(page, click, *, status: int) -> None:
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        click()
    assert answer.value.status == status


def test_an_empty_comment_shows_its_message_then_a_comment_lands_on_the_card(drawer):
    page, feature, thread = drawer
    post(page, thread.get_by_role("button", name="Comment", exact=True).click, status=422)
    expect(thread.get_by_text("A comment needs some text.")).to_be_visible()
    assert not Comment.objects.filter(record_id=feature.pk).exists()

    thread.get_by_role("textbox", name="Comment", exact=True).fill("Does this cover SAML?")
    post(page, thread.get_by_role("button", name="Comment", exact=True).click, status=200)
    expect(thread.locator(".comment-body")).to_have_text("Does this cover SAML?")
    expect(thread.get_by_text("A comment needs some text.")).to_have_count(0)
    # The card behind the drawer counts it, without a reload.
    expect(page.locator(f"#card-{feature.pk} .card-comments")).to_have_attribute(
        "title", "1 comment"
    )


def test_a_file_over_the_limit_shows_its_message_and_a_dropped_png_shows_a_thumbnail(
    drawer, screenshot
):
    page, feature, thread = drawer
    thread.get_by_label("Attach a file").set_input_files(
        {"name": "big.log", "mimeType": "text/plain", "buffer": b"x" * 1001}
    )
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    thread.get_by_role("button", name="Attach", exact=True).click()
    # Refused in the page, before the bytes travel (the server's own refusal, for a browser
    # without the script, is tested in tests/discussion/test_attachments.py).
    expect(thread.get_by_text("The file is 1,001 bytes: the limit is 1,000 bytes.")).to_be_visible()
    assert posts == []  # nothing was sent
    assert not Attachment.objects.exists()

    # Dropped on the form, as from the desktop: the page builds the drop a person would make.
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.evaluate(
            """(selector) => {
                const form = document.querySelector(selector + " [data-dropzone]");
                const bytes = Uint8Array.from(atob(
                  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4DwAAAQEABRjYTgAAAABJRU5ErkJggg=="
                ), c => c.charCodeAt(0));
                const data = new DataTransfer();
                data.items.add(new File([bytes], "mock-up.png", {type: "image/png"}));
                form.dispatchEvent(new DragEvent("dragover", {bubbles: true, dataTransfer: data}));
                form.dispatchEvent(new DragEvent("drop", {bubbles: true, dataTransfer: data}));
            }""",
            f"#discussion-feature-{feature.pk}",
        )
    assert answer.value.status == 200
    expect(thread.get_by_role("link", name="mock-up.png")).to_be_visible()
    thumb = thread.locator("img.attachment-thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "(el) => el.complete && el.naturalWidth === 1", arg=thumb.element_handle()
    )
    assert Attachment.objects.get().name == "mock-up.png"
    thread.get_by_role("textbox", name="Comment", exact=True).fill("Mock-up attached.")
    post(page, thread.get_by_role("button", name="Comment", exact=True).click, status=200)
    # The answer swaps the thread in: scroll the new one, not the one it replaces.
    expect(thread.locator(".comment-body").last).to_have_text("Mock-up attached.")
    thread.scroll_into_view_if_needed()
    screenshot("discussion-drawer")

    with page.expect_download() as download:
        thread.get_by_role("link", name="mock-up.png").click()
    assert download.value.suggested_filename == "mock-up.png"
