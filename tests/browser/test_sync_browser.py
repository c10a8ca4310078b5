"""Sending to Rally as people do it, in real Chromium, with a real cluster and the sandbox.

1. bob sends a feature from its drawer; carol approves it in Integration updates; the card
   and the drawer show the FormattedID link; Rally holds the feature, its parent initiative
   (from the Company workspace, on the same template), its release and its stories.
2. With automatic sending, bob bulk-sends 10 cards and watches the progress bar; every card
   gains its FormattedID without a reload.
"""

from __future__ import annotations

from playwright.sync_api import expect

from aharally.integrations.models import OutgoingMode
from aharally.integrations.templates_service import use_as_template
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Release
from aharally.sync.models import Link
from aharally.workspaces.models import Membership, RecordType, Role, Workspace
from tests.browser.conftest import sign_in
from tests.factories import make_user
from tests.sync.support import connect, sandbox_client, scope_of

BOARD = "/w/PLAT/features/board/"
LINK_TIMEOUT_MS = 30_000


def _integrations(sync_sandbox, outgoing_mode):
    """Platform's integration is the template; Company's is built on it."""
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    company = Workspace.objects.get(prefix="CO")
    alice = platform.memberships.get(role=Role.OWNER).user
    template = connect(platform, sync_sandbox, owner=alice, outgoing_mode=outgoing_mode)
    use_as_template(integration=template, by=alice)
    connect(company, sync_sandbox, owner=alice, template=template, name="Company Rally")
    return platform, template


def _open_drawer(page, reference):
    page.locator(f"[data-reference='{reference}'] .card-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("h2#drawer-title")).to_be_visible()
    return drawer


def test_bob_sends_a_feature_carol_approves_and_the_link_appears(
    page, browser, live_server, sync_sandbox, task_cluster, screenshot
):
    platform, _template = _integrations(sync_sandbox, OutgoingMode.APPROVE)
    # Owners in Rally are matched by email: give the feature someone Rally knows.
    developer = make_user("developer@example.com")
    Membership.objects.create(workspace=platform, user=developer, role=Role.CONTRIBUTOR)
    release = Release.objects.filter(workspace=platform, is_parking_lot=False).first()
    feature = Feature.objects.filter(release=release, initiative__isnull=False).first()
    Feature.objects.filter(pk=feature.pk).update(assignee=developer)

    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    drawer = _open_drawer(page, feature.reference)
    drawer.locator(".integrations-menu summary").click()
    drawer.locator("[data-send-to-rally]").click()
    expect(drawer.locator(".integrations-menu .flash.success")).to_contain_text(
        "waits for a reviewer"
    )
    screenshot("sync-sent-for-approval")

    carol = browser.new_context(base_url=live_server.url)
    carol_page = carol.new_page()
    try:
        sign_in(carol_page, "carol@example.com", DEMO_PASSWORD, next_url="/")
        badge = carol_page.locator(".integration-updates-link .update-dot")
        expect(badge).to_have_text("1")
        carol_page.locator(".integration-updates-link").click()
        entry = carol_page.locator(".queue-entry", has_text=feature.reference)
        expect(entry).to_contain_text("New in Rally")
        expect(entry.locator("table.changes")).to_contain_text(feature.name)
        # The filter bar is styled as every page's (app.css), not left as the browser draws it.
        expect(carol_page.locator(".filters select[name=author]")).to_have_css(
            "border-radius", "4px"
        )
        screenshot_page(carol_page, screenshot, "sync-queue")
        entry.get_by_role("button", name="Approve").click()
        expect(carol_page.locator("#queue .flash.success")).to_contain_text("Approved 1 change")
        # The top bar's count follows the decision without a reload.
        expect(badge).to_have_count(0)
    finally:
        carol.close()

    link_in_drawer = drawer.locator(".integrations-line > a.rally-link")
    expect(link_in_drawer).to_be_visible(timeout=LINK_TIMEOUT_MS)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    expect(link_in_drawer).to_have_text(link.formatted_id)
    expect(link_in_drawer).to_have_attribute("href", link.url)
    card_link = page.locator(f"#card-{feature.pk} .card-links a.rally-link")
    expect(card_link).to_have_text(link.formatted_id, timeout=LINK_TIMEOUT_MS)
    screenshot("sync-linked")
    assert "{#" not in page.inner_text("body")  # no template comment leaks onto the page

    with sandbox_client(sync_sandbox) as client:
        held = client.read(
            f"/portfolioitem/feature/{link.rally_oid}",
            fetch=["Name", "Description", "State", "Owner", "Parent", "Release", "UserStories"],
        )
        stories = list(client.collection(held.ref, "UserStories", fetch=["Name", "PortfolioItem"]))
    assert held["Name"] == feature.name
    assert "customers asked for" in held["Description"]
    assert held["State"] is not None
    assert held["Owner"]["_refObjectName"]  # developer@example.com's Rally user
    initiative_link = Link.objects.get(
        record_type=RecordType.INITIATIVE, record_id=feature.initiative_id
    )
    assert initiative_link.integration.workspace.prefix == "CO"
    assert held["Parent"]["_ref"].endswith(f"/{initiative_link.rally_oid}")
    release_link = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk)
    assert held["Release"]["_ref"].endswith(f"/{release_link.rally_oid}")
    assert sorted(s["Name"] for s in stories) == sorted(
        feature.requirements.values_list("name", flat=True)
    )


def screenshot_page(page, screenshot, name):
    # The fixture shoots the main page; another context's page is shot the same way.
    import os
    from pathlib import Path

    folder = os.environ.get("AHARALLY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def test_bob_bulk_sends_ten_cards_and_each_gains_its_link_without_a_reload(
    page, sync_sandbox, task_cluster, screenshot
):
    platform, _template = _integrations(sync_sandbox, OutgoingMode.AUTOMATIC)
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    expect(page.locator(".card").first).to_be_visible()
    chosen = page.locator(".card").evaluate_all(
        "cards => cards.slice(0, 10).map(card => card.dataset.reference)"
    )
    for reference in chosen:
        page.locator(f"[data-reference='{reference}'] .card-select").check()
    page.select_option("#bulk-action", "send_to_rally")
    page.locator("#bulk-form button[type=submit]").click()
    page.locator("dialog.send-preview-dialog [data-send-confirmed]").click()  # the preview

    progress = page.locator("#bulk-result .job-progress")
    expect(progress).to_be_visible()
    screenshot("sync-bulk-progress")
    expect(progress.locator(".job-label")).to_contain_text("Sent 10", timeout=LINK_TIMEOUT_MS)
    for reference in chosen:
        expect(
            page.locator(f"[data-reference='{reference}'] .card-links a.rally-link")
        ).to_be_visible(timeout=LINK_TIMEOUT_MS)
    screenshot("sync-bulk-done")
    features = Feature.objects.filter(workspace=platform, reference__in=chosen)
    links = Link.objects.filter(record_type=RecordType.FEATURE, record_id__in=features.values("pk"))
    assert links.count() == 10
    with sandbox_client(sync_sandbox) as client:
        for link in links:
            assert client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"])["Name"]


def test_bob_links_a_feature_to_one_of_another_rally_project_and_the_menu_says_why_not(
    page, sync_sandbox, task_cluster, screenshot
):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    connect(platform, sync_sandbox, owner=platform.memberships.get(role=Role.OWNER).user)
    _, mobile = scope_of(sync_sandbox, project="Mobile")
    with sandbox_client(sync_sandbox) as client:
        elsewhere = client.create(
            "PortfolioItem/Feature",
            {"Name": "Mobile checkout", "Project": f"/project/{mobile}"},
            fetch=["ObjectID", "FormattedID"],
        )
    feature = Feature.objects.filter(workspace=platform).first()

    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    drawer = _open_drawer(page, feature.reference)
    drawer.locator(".integrations-menu summary").click()
    form = drawer.locator("form.link-existing")
    form.locator("input[name=formatted_id]").fill(elsewhere.formatted_id)
    form.get_by_role("button", name="Link").click()

    # The cluster refuses it; the menu, reloading itself meanwhile, stays open to say why.
    refusal = drawer.locator(".integrations-menu .sync-failed")
    expect(refusal).to_be_visible(timeout=LINK_TIMEOUT_MS)
    expect(refusal).to_contain_text(
        f"{elsewhere.formatted_id} is in Rally project Mobile, outside this integration's "
        "project Platform and its children."
    )
    screenshot("sync-link-refused")
    assert not Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).exists()


def test_a_state_changed_in_rally_shows_on_the_board_and_in_the_drawer(
    page, sync_sandbox, hooked_cluster, screenshot
):
    from aharally.integrations.templates_service import effective_config
    from aharally.sync.outgoing import outbox
    from tests.waiting import wait_until

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
    status_map = effective_config(integration).mapping_for("feature").status_map
    before = Feature.objects.get(pk=feature.pk).status
    wanted = next(
        s
        for s in ("Measuring", "Done", "Developing", "Discovering")
        if status_map.status_for(s) not in (None, before)
    )
    status = status_map.status_for(wanted)
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    card = page.locator(f"[data-reference='{feature.reference}']")
    expect(card.locator(".status-pill")).not_to_have_text(status.name)

    with sandbox_client(sync_sandbox) as client:
        state = next(s for s in client.states("PortfolioItem/Feature") if s.name == wanted)
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"State": state.ref})
    # The webhook's delivery (or the minute's catch-up) runs in the cluster; then a person
    # reloads the board, as they would.
    wait_until(
        lambda: Feature.objects.get(pk=feature.pk).status_id == status.pk,
        timeout=90,
        what=f"the feature's status {status.name} from Rally's {wanted}",
    )
    page.reload()

    expect(card.locator(".status-pill")).to_have_text(status.name)
    drawer = _open_drawer(page, feature.reference)
    expect(drawer.locator("select[name=status]")).to_have_value(str(status.pk))
    screenshot("sync-state-from-rally")
