"""Issue 17's first acceptance, in real Chromium with a real cluster and the sandbox: bob
comments on a linked feature and attaches a PNG; the developer sees both on the Rally feature
in the sandbox's UI, replies and attaches a text file; bob sees the reply and downloads the
file, byte for byte equal."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from aharally.discussion.models import Attachment, Comment
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from aharally.sync.models import DiscussionPair, Link
from aharally.workspaces.models import RecordType, Role, Workspace
from tests.browser.conftest import TIMEOUT_MS, sign_in
from tests.browser.test_sandbox_detail_links_browser import sign_in as sign_in_to_rally
from tests.sync.support import connect
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

BOARD = "/w/PLAT/features/board/"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
LOG = b"2026-12-06 07:00:01 ERROR checkout: card declined\n\xe2\x9c\x93 retried once\n"


def _open_drawer(page, reference):
    page.locator(f"[data-reference='{reference}'] .card-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("h2#drawer-title")).to_be_visible()
    return drawer


def test_a_comment_and_a_png_go_to_rally_and_a_reply_and_a_file_come_back(
    page, browser, sync_sandbox, cluster_with_files, screenshot, tmp_path
):
    from aharally.sync.outgoing import outbox

    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    integration = connect(platform, sync_sandbox, owner=alice)
    feature = Feature.objects.filter(workspace=platform, release__is_parking_lot=False).first()
    outbox.request_send(record=feature, integration=integration, user=alice)
    link = wait_until(
        lambda: Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).first(),
        timeout=30,
        what="the feature's link",
    )

    # bob comments and attaches a PNG in the drawer.
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    drawer = _open_drawer(page, feature.reference)
    thread = drawer.locator(f"#discussion-feature-{feature.pk}")
    expect(thread.get_by_text("New comments and files go to Rally.")).to_be_visible()
    thread.get_by_role("textbox", name="Comment", exact=True).fill("Which cards fail?")
    thread.get_by_role("button", name="Comment", exact=True).click()
    expect(thread.locator(".comment-body")).to_have_text("Which cards fail?")
    thread.get_by_label("Attach a file").set_input_files(
        {"name": "mock-up.png", "mimeType": "image/png", "buffer": PNG}
    )
    thread.get_by_role("button", name="Attach", exact=True).click()
    expect(thread.get_by_role("link", name="mock-up.png")).to_be_visible()
    wait_until(
        lambda: DiscussionPair.objects.filter(integration=integration).count() == 2,
        timeout=30,
        what="the comment and the PNG in Rally",
    )
    page.reload()
    thread = _open_drawer(page, feature.reference).locator(f"#discussion-feature-{feature.pk}")
    expect(thread.get_by_text(f"In Rally ({link.formatted_id})")).to_have_count(2)

    # The developer, in the sandbox's UI, sees both, replies and attaches a log.
    context = browser.new_context(base_url=sync_sandbox.base_url, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    rally = context.new_page()
    try:
        rally.goto(f"/sandbox/items/{link.rally_oid}/")
        if "login" in rally.url:
            sign_in_to_rally(rally, sync_sandbox)
            rally.wait_for_url(f"**/sandbox/items/{link.rally_oid}/")
        expect(rally.locator(".post-text")).to_contain_text("Which cards fail?")
        expect(rally.locator(".post-text")).to_contain_text("bob@example.com")
        expect(rally.get_by_role("link", name="mock-up.png")).to_be_visible()
        rally.locator("#id_post_text").fill("Visa debit, see the log.")
        rally.get_by_role("button", name="Post", exact=True).click()
        expect(rally.locator(".post-text").last).to_contain_text("Visa debit, see the log.")
        log = tmp_path / "checkout.log"
        log.write_bytes(LOG)
        rally.locator("#id_attachment_file").set_input_files(str(log))
        rally.get_by_role("button", name="Attach", exact=True).click()
        expect(rally.get_by_role("link", name="checkout.log")).to_be_visible()
    finally:
        context.close()

    # The webhook's delivery (or the minute's catch-up) brings both; bob reloads.
    wait_until(
        lambda: (
            Comment.objects.filter(record_id=feature.pk, source="Rally").exists()
            and Attachment.objects.filter(record_id=feature.pk, name="checkout.log").exists()
        ),
        timeout=90,
        what="the reply and the log from Rally",
    )
    page.reload()
    thread = _open_drawer(page, feature.reference).locator(f"#discussion-feature-{feature.pk}")
    expect(thread.locator(".comment-body").last).to_have_text("Visa debit, see the log.")
    expect(thread.get_by_text("From Rally").first).to_be_visible()
    with page.expect_download() as download:
        thread.get_by_role("link", name="checkout.log").click()
    assert Path(download.value.path()).read_bytes() == LOG
    # Nothing was sent twice, nor brought back: one of each on both sides.
    assert Comment.objects.filter(record_id=feature.pk).count() == 2
    assert Attachment.objects.filter(record_id=feature.pk).count() == 2
    thread.scroll_into_view_if_needed()
    screenshot("discussion-both-ways")
