"""Issue 19, acceptance 1: a bulk send shows what it will do before it does it.

bob selects 12 cards on Platform's board (3 linked already and changed since, 1 without the
end date Rally requires, 8 new under two initiatives of Company, a template group): the
preview names each number; Cancel asks Rally nothing; Send does what the preview said.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone
from playwright.sync_api import expect

from aharally.integrations.models import Integration, OutgoingMode
from aharally.integrations.templates_service import effective_config, use_as_template
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Release
from aharally.records.services import create_initiative
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType, Role, WorkflowStatus, Workspace
from tests.browser.conftest import sign_in
from tests.factories import make_feature, make_requirement, parking_lot
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

BOARD = "/w/PLAT/features/board/"
SEND_MS = 60_000
DUE = date(2027, 6, 30)
REQUIRED = ("PortfolioItem/Feature", "PlannedEndDate")


def _requests(sandbox) -> int:
    return sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]


def _cluster_stopped_at_rest(sandbox, cluster) -> None:
    """The sync at rest (no row unsent), then the task cluster stopped and the sandbox's count
    of requests still for a second: nothing but the page can ask Rally anything. (The
    cluster's catch-up, or a webhook's event applied, once counted against Cancel.)"""
    wait_until(
        lambda: (
            not OutboxItem.objects.exclude(
                state__in=[OutboxState.SENT, OutboxState.REJECTED]
            ).exists()
        ),
        timeout=60,
        what="every outbox row sent",
    )
    cluster.stop()
    counts: list[int] = []

    def still() -> bool:
        stats = sandbox.admin("GET", "/sandbox-admin/stats").json()
        counts.append(stats["requests"])
        return (
            len(counts) >= 3 and len(set(counts[-3:])) == 1 and not any(stats["in_flight"].values())
        )

    wait_until(still, timeout=30, interval=0.5, what="no request to the sandbox for a second")


def _another_state(integration, feature) -> WorkflowStatus:
    state_for = effective_config(integration).mapping_for(RecordType.FEATURE).status_map.state_for
    statuses = WorkflowStatus.objects.filter(
        workspace=feature.workspace, record_type=RecordType.FEATURE
    )
    return next(s for s in statuses if state_for(s) != state_for(feature.status))


def _choose(page, references) -> None:
    for reference in references:
        page.locator(f"[data-reference='{reference}'] .card-select").check()
    page.select_option("#bulk-action", "send_to_rally")
    page.locator("#bulk-form button[type=submit]").click()


def test_bob_previews_twelve_cards_cancels_then_sends_what_the_preview_said(
    page, sync_sandbox, task_cluster, screenshot
):
    started = timezone.now() - timedelta(seconds=5)  # the sandbox's clock is this machine's
    sync_sandbox.require_field(*REQUIRED)
    try:
        _preview_cancel_send(page, sync_sandbox, task_cluster, screenshot, started)
    finally:
        sync_sandbox.unrequire_field(*REQUIRED)
        cache.clear()  # Rally's metadata kept with the rule: no later test may find it


def _preview_cancel_send(page, sync_sandbox, task_cluster, screenshot, started) -> None:
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    company = Workspace.objects.get(prefix="CO")
    alice = platform.memberships.get(role=Role.OWNER).user
    bob = platform.memberships.get(user__email="bob@example.com").user
    template = connect(platform, sync_sandbox, owner=alice, outgoing_mode=OutgoingMode.AUTOMATIC)
    use_as_template(integration=template, by=alice)
    connect(company, sync_sandbox, owner=alice, template=template, name="Company Rally")
    word = token()
    goals = [create_initiative(workspace=company, name=f"Goal {word} {n}") for n in range(2)]
    lot = parking_lot(platform)

    linked = [
        make_feature(platform, release=lot, name=f"Linked {word} {n}", due_date=DUE)
        for n in range(3)
    ]
    # Sent with its initiative and a story: Rally's types the preview reads are kept from
    # this send, as an integration in use has them (the preview asks Rally only for what
    # nothing kept).
    earlier = create_initiative(workspace=company, name=f"Earlier {token()}", due_date=DUE)
    Feature.objects.filter(pk=linked[0].pk).update(initiative=earlier)
    make_requirement(linked[0], name=f"Earlier story {token()}")  # and stories' types
    start_job(records=linked, integration=template, user=bob, label="Before the test")
    wait_until(
        lambda: Link.objects.filter(integration=template, record_type="feature").count() == 3,
        timeout=60,
        what="the three features linked",
    )
    # Changed since they were sent, past the sync (no outbox row): two names and a status.
    for feature in linked[:2]:
        Feature.objects.filter(pk=feature.pk).update(name=f"{feature.name} renamed")
    Feature.objects.filter(pk=linked[2].pk).update(status=_another_state(template, linked[2]))

    new = []
    for n in range(8):
        feature = make_feature(
            platform, release=lot, name=f"New {word} {n}", initiative=goals[n % 2], due_date=DUE
        )
        for m in range(3 if n == 0 else 2):  # 17 stories
            make_requirement(feature, name=f"Story {word} {n}.{m}")
        new.append(feature)
    no_end = make_feature(platform, release=lot, name=f"No end date {word}", initiative=goals[0])
    make_requirement(no_end, name=f"Story {word} refused")
    chosen = [f.reference for f in [*linked, *new, no_end]]

    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    expect(page.locator(".card").first).to_be_visible()
    _cluster_stopped_at_rest(sync_sandbox, task_cluster)
    before, rows = _requests(sync_sandbox), OutboxItem.objects.count()
    _choose(page, chosen)
    dialog = page.locator("dialog.send-preview-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-send-summary]")).to_have_text(
        "12 features: 8 to create with 2 initiatives and 17 stories, 3 to update "
        "(name, status), 1 refused: Planned End Date is required in Rally"
    )
    expect(dialog.locator(f"[data-refused='{no_end.reference}']")).to_contain_text("Due date")
    expect(dialog.locator("[data-send-cost]")).to_contain_text("at 12 in flight")
    screenshot("send-preview")

    dialog.locator("[data-send-cancel]").click()
    expect(dialog).to_be_hidden()
    assert _requests(sync_sandbox) == before
    assert OutboxItem.objects.count() == rows
    task_cluster.start()  # for the send

    _choose(page, [])  # the selection is still checked: Apply again
    dialog = page.locator("dialog.send-preview-dialog[open]")
    expect(dialog.locator("[data-send-summary]")).to_contain_text("12 features")
    dialog.locator("[data-send-confirmed]").click()
    label = page.locator("#bulk-result .job-progress .job-label")
    expect(label).to_contain_text("Sent 11, failed 1", timeout=SEND_MS)
    screenshot("send-preview-sent")

    # What Rally holds now: 11 features (3 of them updated), 2 initiatives, 17 stories.
    features = {f["Name"] for f in rally_objects(sync_sandbox, "PortfolioItem/Feature", word)}
    assert len(features) == 11
    assert {f"{f.name} renamed" for f in linked[:2]} <= features
    assert no_end.name not in features
    since = started.strftime("%Y-%m-%dT%H:%M:%S")
    goals_made = [
        g
        for g in rally_objects(
            sync_sandbox, "PortfolioItem/Initiative", word, fetch=["Name", "CreationDate"]
        )
        if g["CreationDate"] >= since
    ]
    assert len(goals_made) == 2
    # The stories follow their features after the job's count: wait for all 17.
    wait_until(
        lambda: len(rally_objects(sync_sandbox, "HierarchicalRequirement", word)) == 17,
        timeout=60,
        what="Rally holding the 17 stories",
    )


def _group(sync_sandbox):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    template = connect(platform, sync_sandbox, owner=alice, outgoing_mode=OutgoingMode.AUTOMATIC)
    use_as_template(integration=template, by=alice)
    company = Workspace.objects.get(prefix="CO")
    connect(company, sync_sandbox, owner=alice, template=template, name="Company Rally")
    return platform, template


def test_send_release_to_rally_previews_in_its_menu_and_sends_only_once_confirmed(
    page, sync_sandbox, task_cluster, screenshot
):
    platform, _template = _group(sync_sandbox)
    release = (
        Release.objects.filter(workspace=platform, is_parking_lot=False)
        .annotate(n=Count("features"))
        .filter(n__gt=0)
        .first()
    )
    count = release.features.count()
    sign_in(
        page, "bob@example.com", DEMO_PASSWORD, next_url=f"/w/PLAT/releases/{release.reference}/"
    )
    menu = page.locator(".integrations-menu").first
    menu.locator("summary").click()
    menu.locator("[data-send-to-rally]").click()
    dialog = page.locator("dialog.send-preview-dialog[open]")
    # The release is created once: as the selection's, not again as its features' parent.
    expect(dialog.locator("[data-send-summary]")).to_contain_text(
        f"1 release and {count} features: {count + 1} to create with 2 initiatives and "
    )
    expect(dialog.locator("[data-created='release'] td")).to_have_text("1")
    said = {
        row.get_attribute("data-created"): int(row.locator("td").inner_text())
        for row in dialog.locator("[data-created]").all()
    }
    screenshot("send-release-preview")
    dialog.locator("[data-send-cancel]").click()
    expect(page.locator("dialog.send-preview-dialog[open]")).to_have_count(0)
    assert not OutboxItem.objects.exists()

    menu.locator("[data-send-to-rally]").click()
    page.locator("dialog.send-preview-dialog[open] [data-send-confirmed]").click()
    expect(page.locator(".job-progress .job-label")).to_contain_text(
        f"Sent {count + 1}", timeout=SEND_MS
    )
    assert Link.objects.filter(record_type="release", record_id=release.pk).exists()

    def made() -> dict[str, int]:
        return {kind: Link.objects.filter(record_type=kind).count() for kind in said}

    # The stories follow their features after the job's count: wait for what was said.
    wait_until(lambda: made() == said, timeout=60, what=f"Rally holding {said}")


def test_a_send_confirmed_after_the_grant_was_revoked_says_so_on_the_board(page, sync_sandbox):
    _platform, template = _group(sync_sandbox)
    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=BOARD)
    expect(page.locator(".card").first).to_be_visible()
    references = page.locator(".card").evaluate_all(
        "cards => cards.slice(0, 2).map(card => card.dataset.reference)"
    )
    _choose(page, references)
    dialog = page.locator("dialog.send-preview-dialog[open]")
    expect(dialog.locator("[data-send-summary]")).to_contain_text("2 features: 2 to create")

    Integration.objects.filter(pk=template.pk).update(needs_reauthorization=True)
    dialog.locator("[data-send-confirmed]").click()

    expect(page.locator("#bulk-result .flash.error")).to_contain_text("needs re-authorization")
    expect(page.locator("dialog.send-preview-dialog[open]")).to_have_count(0)
    assert not OutboxItem.objects.exists()
