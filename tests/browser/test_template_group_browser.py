"""Two workspaces on one template and one Rally project, automatic import on (issue 15).

bob bulk-sends 20 Platform cards; the webhook deliveries and catch-ups of both integrations
run in a real cluster. Company's board gains no copies; each initiative is created once in
Rally and linked as its features' parent; an edit of an initiative in Company reaches Rally
once.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from aharally.integrations.models import OutgoingMode
from aharally.integrations.templates_service import use_as_template
from aharally.rally.query import all_of, where
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Initiative
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Link, OutboxItem, OutboxKind, OutboxState
from aharally.workspaces.models import RecordType, Role, Workspace
from tests.browser.conftest import sign_in
from tests.sync.support import connect, sandbox_client
from tests.waiting import wait_until

PLATFORM_BOARD = "/w/PLAT/features/board/"
COMPANY_BOARD = "/w/CO/features/board/"
TIMEOUT_MS = 60_000


def _parent_oid(client, link) -> int | None:
    held = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Parent"])
    parent = held.ref_of("Parent")
    return parent.object_id if parent else None


def test_a_bulk_send_on_a_shared_template_links_once_and_copies_nothing(
    page, sync_sandbox, hooked_cluster, screenshot
):
    started = timezone.now() - timedelta(seconds=5)  # the sandbox's clock is this machine's
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    company = Workspace.objects.get(prefix="CO")
    alice = platform.memberships.get(role=Role.OWNER).user
    template = connect(platform, sync_sandbox, owner=alice, outgoing_mode=OutgoingMode.AUTOMATIC)
    use_as_template(integration=template, by=alice)
    company_integration = connect(
        company, sync_sandbox, owner=alice, template=template, name="Company Rally"
    )
    company_features_before = Feature.objects.filter(workspace=company).count()

    sign_in(page, "bob@example.com", DEMO_PASSWORD, next_url=PLATFORM_BOARD)
    expect(page.locator(".card").first).to_be_visible()
    chosen = page.locator(".card").evaluate_all(
        "cards => cards.slice(0, 20).map(card => card.dataset.reference)"
    )
    assert len(chosen) == 20
    for reference in chosen:
        page.locator(f"[data-reference='{reference}'] .card-select").check()
    page.select_option("#bulk-action", "send_to_rally")
    page.locator("#bulk-form button[type=submit]").click()
    page.locator("dialog.send-preview-dialog [data-send-confirmed]").click()  # the preview
    progress = page.locator("#bulk-result .job-progress")
    expect(progress.locator(".job-label")).to_contain_text("Sent 20", timeout=TIMEOUT_MS)
    screenshot("template-group-sent")

    # Whatever the deliveries already ran, both catch-ups once more, in either order.
    for integration in (company_integration, template, company_integration):
        pull_updates(integration.pk)

    page.goto(COMPANY_BOARD)
    expect(page.locator(".card")).to_have_count(company_features_before)
    screenshot("template-group-company-board")
    assert Feature.objects.filter(workspace=company).count() == company_features_before
    features = Feature.objects.filter(workspace=platform, reference__in=chosen)
    feature_links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=features.values("pk")
    )
    assert feature_links.count() == 20
    assert not Link.objects.filter(
        integration=company_integration, record_type=RecordType.FEATURE
    ).exists()

    initiatives = Initiative.objects.filter(
        pk__in=features.exclude(initiative=None).values("initiative")
    )
    assert initiatives.exists(), "the demo's features have initiatives"
    with sandbox_client(sync_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        for initiative in initiatives:
            initiative_link = Link.objects.get(
                record_type=RecordType.INITIATIVE, record_id=initiative.pk
            )
            # The session's sandbox holds other tests' demo initiatives of the same names:
            # count those made since this test started.
            named = list(
                client.query(
                    "PortfolioItem/Initiative",
                    query=all_of(
                        where("Name", "=", initiative.name),
                        where("CreationDate", ">=", started.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
                    ),
                    fetch=["ObjectID"],
                    workspace=engineering.ref,
                )
            )
            assert len(named) == 1, f"{initiative.name} is in Rally {len(named)} times"
            for link in feature_links.filter(
                record_id__in=features.filter(initiative=initiative).values("pk")
            ):
                assert _parent_oid(client, link) == initiative_link.rally_oid

    company_initiative = next(
        (i for i in initiatives if i.workspace_id == company.pk), initiatives.first()
    )
    initiative_link = Link.objects.get(
        record_type=RecordType.INITIATIVE, record_id=company_initiative.pk
    )
    owner = company_initiative.workspace.memberships.get(role=Role.OWNER).user
    update_record(company_initiative, changes={"name": "Grow everywhere, renamed"}, user=owner)
    with sandbox_client(sync_sandbox) as client:
        wait_until(
            lambda: (
                client.read(
                    f"/portfolioitem/initiative/{initiative_link.rally_oid}", fetch=["Name"]
                )["Name"]
                == "Grow everywhere, renamed"
            ),
            timeout=60,
            what="the initiative's new name in Rally",
        )
    updates = OutboxItem.objects.filter(
        record_type=RecordType.INITIATIVE,
        record_id=company_initiative.pk,
        kind=OutboxKind.UPDATE,
    )
    # Rally has the name a moment before the row is marked sent.
    wait_until(
        lambda: updates.filter(state=OutboxState.SENT).exists(),
        timeout=30,
        what="the update marked sent",
    )
    assert updates.count() == 1
    assert updates.get().sent_values == {"name": "Grow everywhere, renamed"}
