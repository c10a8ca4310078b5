"""Edits and deletions both ways, in real Chromium with a real cluster and the sandbox: bob
edits his comment on a linked feature and the sandbox's UI shows the edit; the developer
deletes a post in the sandbox's UI and bob's drawer no longer shows it once the webhook's
catch-up has run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from aharally.discussion.models import Comment
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature
from aharally.sync.models import DiscussionPair, Link, OutboxItem, OutboxKind, OutboxState
from aharally.workspaces.models import RecordType, Role, Workspace
from tests.browser.conftest import TIMEOUT_MS, sign_in
from tests.browser.test_sandbox_detail_links_browser import sign_in as sign_in_to_rally
from tests.sync.support import connect
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

BOARD = "/w/PLAT/features/board/"


def _thread(page, feature):
    page.locator(f"[data-reference='{feature.reference}'] .card-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("h2#drawer-title")).to_be_visible()
    return drawer.locator(f"#discussion-feature-{feature.pk}")


def test_bob_s_edit_reaches_rally_and_a_post_deleted_in_rally_leaves_his_drawer(
    page, browser, sync_sandbox, cluster_with_files, screenshot
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

    # bob comments, and once it is in Rally, edits it.
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    thread = _thread(page, feature)
    expect(thread.get_by_text("Editing a comment here updates its post there")).to_be_visible()
    thread.get_by_role("textbox", name="Comment", exact=True).fill("Which cards fail?")
    thread.get_by_role("button", name="Comment", exact=True).click()
    expect(thread.locator(".comment-body")).to_have_text("Which cards fail?")
    wait_until(
        lambda: DiscussionPair.objects.filter(integration=integration, kind="comment").exists(),
        timeout=30,
        what="the comment in Rally",
    )
    comment = thread.locator(".comment").first
    comment.locator("details.comment-edit > summary").click()
    comment.get_by_role("textbox", name="Edit the comment").fill("Which debit cards fail?")
    comment.get_by_role("button", name="Save").click()
    expect(thread.locator(".comment-body")).to_have_text("Which debit cards fail?")
    wait_until(
        lambda: OutboxItem.objects.filter(kind=OutboxKind.EDIT, state=OutboxState.SENT).exists(),
        timeout=30,
        what="the edit sent to Rally",
    )

    # The developer sees the edit in the sandbox's UI, and replies.
    context = browser.new_context(base_url=sync_sandbox.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    rally = context.new_page()
    try:
        rally.goto(f"/sandbox/items/{link.rally_oid}/")
        if "login" in rally.url:
            sign_in_to_rally(rally, sync_sandbox)
            rally.wait_for_url(f"**/sandbox/items/{link.rally_oid}/")
        expect(rally.locator(".post-text").first).to_contain_text("Which debit cards fail?")
        expect(rally.locator(".post-text").first).not_to_contain_text("Which cards fail?")
        rally.locator("#id_post_text").fill("Posted by mistake.")
        rally.get_by_role("button", name="Post", exact=True).click()
        expect(rally.locator(".post-text").last).to_contain_text("Posted by mistake.")

        # The reply comes to bob's drawer (the webhook's catch-up, or the minute's).
        wait_until(
            lambda: Comment.objects.filter(record_id=feature.pk, source="Rally").exists(),
            timeout=90,
            what="the reply from Rally",
        )
        page.reload()
        thread = _thread(page, feature)
        expect(thread.get_by_text("Posted by mistake.")).to_be_visible()

        # The developer deletes it in the sandbox's UI.
        rally.reload()
        rally.locator(".post", has_text="Posted by mistake.").get_by_role(
            "button", name="Delete post"
        ).click()
        expect(rally.get_by_text("Posted by mistake.")).to_have_count(0)
    finally:
        context.close()

    wait_until(
        lambda: not Comment.objects.filter(record_id=feature.pk, source="Rally").exists(),
        timeout=90,
        what="the deleted post gone from aharally",
    )
    page.reload()
    thread = _thread(page, feature)
    expect(thread.get_by_text("Posted by mistake.")).to_have_count(0)
    expect(thread.locator(".comment-body")).to_have_text("Which debit cards fail?")
    screenshot("discussion-edits-both-ways")
