"""Import from Rally and Compare with Rally as an owner does them, in real Chromium, with a
real cluster and the sandbox.

1. alice opens Import from Rally from the integration's More options, is told what is wrong
   with an empty and a garbage search, finds a story by name, imports it, and sees it under
   the feature it brought along.
2. alice compares with Rally, sees a name that differs, keeps aharally's, and once it is
   sent, compares again: both agree, and Rally holds aharally's name.
"""

from __future__ import annotations

from playwright.sync_api import expect

from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Requirement
from aharally.sync.models import Link
from aharally.sync.outgoing import outbox
from aharally.workspaces.models import RecordType, Role, Workspace
from tests.browser.conftest import sign_in
from tests.sync.support import connect, sandbox_client, scope_of, token
from tests.waiting import wait_until

WAIT_MS = 30_000


def _platform(sync_sandbox):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    return platform, alice, connect(platform, sync_sandbox, owner=alice)


def _settings(integration) -> str:
    return f"/w/PLAT/settings/integrations/{integration.pk}/"


def test_alice_searches_rally_and_imports_a_story_with_its_feature(
    page, sync_sandbox, task_cluster, screenshot
):
    _platform_ws, alice, integration = _platform(sync_sandbox)
    word = token()
    _, project = scope_of(sync_sandbox)
    with sandbox_client(sync_sandbox) as client:
        feature = client.create(
            "PortfolioItem/Feature",
            {"Project": f"/project/{project}", "Name": f"Rally feature {word}"},
            fetch=["ObjectID"],
        )
        story = client.create(
            "HierarchicalRequirement",
            {
                "Project": f"/project/{project}",
                "Name": f"Rally story {word}",
                "PortfolioItem": f"/portfolioitem/feature/{feature.object_id}",
            },
            fetch=["ObjectID", "FormattedID"],
        )
    sign_in(page, alice.email, DEMO_PASSWORD, next_url=_settings(integration))
    page.locator("summary", has_text="More options").click()
    page.get_by_role("menuitem", name="Import from Rally").click()
    expect(page.locator("h1")).to_have_text("Import from Rally")

    search = page.locator("#search-form input[name=q]")
    page.locator("#search-form button").click()
    expect(page.locator("#search-results .flash.error")).to_contain_text(
        "Enter a Rally FormattedID"
    )
    search.fill("%%")
    page.locator("#search-form button").click()
    expect(page.locator("#search-results .flash.error")).to_contain_text("neither a FormattedID")
    screenshot("import-bad-search")

    search.fill(word)
    page.locator("#search-form button").click()
    row = page.locator(f"#found-{story.object_id}")
    expect(row).to_contain_text(f"Rally story {word}", timeout=WAIT_MS)
    expect(row).to_contain_text("Brings its feature")
    screenshot("import-found")
    row.locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Import selected").click()
    expect(page.locator("#search-results .flash.success")).to_contain_text("Imported")
    expect(row).to_contain_text("Linked")
    expect(row.locator("input[type=checkbox]")).to_have_count(0)  # not importable twice

    requirement = Requirement.objects.get(name=f"Rally story {word}")
    assert Link.objects.get(rally_oid=story.object_id).record_id == requirement.pk
    page.goto(f"/w/PLAT/features/{requirement.feature.reference}/")
    expect(page.locator("body")).to_contain_text(f"Rally story {word}")
    expect(page.locator("h2#drawer-title")).to_have_text(f"Rally feature {word}")
    screenshot("import-done")


def test_alice_compares_keeps_aharallys_name_and_both_systems_agree(
    page, sync_sandbox, task_cluster, screenshot
):
    platform, alice, integration = _platform(sync_sandbox)
    feature = Feature.objects.filter(workspace=platform, release__is_parking_lot=False).first()
    outbox.request_send(record=feature, integration=integration, user=alice)
    link = wait_until(
        lambda: Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).first(),
        timeout=30,
        what="the feature's link",
    )
    wait_until(
        lambda: (
            not outbox.OutboxItem.objects.filter(
                state__in=["queued", "in_flight", "awaiting_approval"]
            ).exists()
        ),
        timeout=60,
        what="the feature and its stories sent",
    )
    # Drift the sync was never told of (a database restore, say): no outbox row, so only a
    # comparison shows it; the catch-up leaves it, since Rally's name is the agreed one.
    Feature.objects.filter(pk=feature.pk).update(name=f"Restored {token()}")
    feature.refresh_from_db()
    rally_before = link.baseline["name"]

    sign_in(page, alice.email, DEMO_PASSWORD, next_url=_settings(integration))
    page.locator("summary", has_text="More options").click()
    page.get_by_role("menuitem", name="Compare with Rally").click()
    line = page.locator("#report tr.line-field[data-field=name]", has_text=feature.name)
    expect(line).to_be_visible(timeout=WAIT_MS)
    expect(line.locator("td.ours")).to_have_text(feature.name)
    expect(line.locator("td.theirs")).to_have_text(rally_before)
    expect(page.locator("#report .report-age")).to_contain_text("Compared just now")
    screenshot("compare-report")

    line.get_by_role("button", name="Use aharally's").click()
    expect(page.locator("#report .flash.success")).to_contain_text("Resolved 1 line")

    def rally_name():
        with sandbox_client(sync_sandbox) as client:
            return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"])["Name"]

    wait_until(lambda: rally_name() == feature.name, timeout=30, what="aharally's name in Rally")
    page.get_by_role("button", name="Compare again").click()
    expect(page.locator("#report .agree")).to_contain_text("agree", timeout=WAIT_MS)
    assert rally_name() == Feature.objects.get(pk=feature.pk).name
    screenshot("compare-agree")
