"""People, as an owner uses it in Chromium, then Owners going across both ways (issue 16).

alice reads Rally's users, pairs herself with Pat Manager (pm@) and bob with Dana Developer
(developer@) on the People page; a tampered choice says why on the page and changes nothing.
A feature assigned to alice goes to Rally with Pat as Owner; the developer takes a linked story
in Rally and the requirement comes back assigned to bob; a feature assigned to dave (no pair)
goes without an Owner and never clears the one someone sets in Rally.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.records.models import Feature, Requirement
from aharally.records.services import update_record
from aharally.sync.incoming.catchup import run_catch_up
from aharally.sync.models import Link, RallyPerson
from aharally.sync.outgoing import outbox
from aharally.workspaces.models import RecordType, Workspace
from tests.browser.conftest import sign_in
from tests.sync.support import connect, sandbox_client
from tests.waiting import wait_until

WAIT_MS = 30_000


def _pair(page, rally_email: str, member_email: str):
    row = page.locator("#people tr", has_text=rally_email)
    row.locator("select[name=member]").select_option(label=member_email)
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#people-notice")).to_contain_text(f"is {member_email} here.")
    expect(page.locator("#people tr", has_text=rally_email)).to_contain_text("Paired by hand")


def _linked(record, record_type):
    wait_until(
        lambda: Link.objects.filter(record_type=record_type, record_id=record.pk).exists(),
        timeout=WAIT_MS / 1000,
        what=f"{record} linked",
    )
    return Link.objects.get(record_type=record_type, record_id=record.pk)


def test_alice_pairs_people_and_owners_go_across_both_ways(
    page, browser, live_server, sync_sandbox, task_cluster, screenshot
):
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    users = {u.username: u for u in get_user_model().objects.all()}
    alice, bob, dave = users["alice"], users["bob"], users["dave"]
    integration = connect(platform, sync_sandbox, owner=alice)
    people_url = f"/w/PLAT/sync/integrations/{integration.pk}/people/"

    sign_in(page, "alice@example.com", DEMO_PASSWORD, next_url=people_url)
    # Enabling read Rally's users already, without a Refresh: the first send needs them.
    expect(page.locator("#directory-state")).to_contain_text(
        "Rally users who can see the integrated project", timeout=WAIT_MS
    )
    page.locator("#refresh-people").click()
    # The refresh is read to its end (the list stops reloading itself) before pairing.
    expect(page.locator("#directory-state")).to_contain_text("Reading Rally's users")
    expect(page.locator("#directory-state")).to_contain_text(
        "Rally users who can see the integrated project", timeout=WAIT_MS
    )
    expect(page.locator("#people")).to_contain_text("Pat Manager")

    _pair(page, "pm@example.com", "alice@example.com")
    _pair(page, "developer@example.com", "bob@example.com")
    screenshot("people-paired")

    # A choice no one could make in the page (another workspace's person) says why, in place.
    admin_row = page.locator("#people tr", has_text="admin@example.com")
    admin_row.locator("select[name=member]").evaluate(
        "(select, id) => { select.options[2].value = id; select.selectedIndex = 2; }",
        "999999",
    )
    admin_row.get_by_role("button", name="Save").click()
    expect(page.locator("#people-notice [role=alert]")).to_contain_text(
        "Only members of this integration's workspaces"
    )
    expect(page.locator("#people tr", has_text="admin@example.com")).to_contain_text("No one")
    assert (
        RallyPerson.objects.get(email="admin@example.com", integration=integration).decision == ""
    )
    expect(page.locator(".unmatched")).to_contain_text("dave@example.com")

    # Out: bob sends a feature assigned to alice from its drawer; Pat is its Owner in Rally.
    feature = Feature.objects.filter(workspace=platform, assignee=alice).first()
    bobs = browser.new_context(base_url=live_server.url)
    try:
        bob_page = bobs.new_page()
        sign_in(bob_page, "bob@example.com", DEMO_PASSWORD, next_url="/w/PLAT/features/board/")
        bob_page.locator(f"[data-reference='{feature.reference}'] .card-link").click()
        drawer = bob_page.locator("#drawer")
        drawer.locator(".integrations-menu summary").click()
        drawer.locator("[data-send-to-rally]").click()
        expect(drawer.locator(".integrations-line > a.rally-link")).to_be_visible(timeout=WAIT_MS)
    finally:
        bobs.close()
    link = _linked(feature, RecordType.FEATURE)
    with sandbox_client(sync_sandbox) as client:
        owner = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Owner"])["Owner"]
    assert owner["_refObjectName"] == "Pat Manager"

    # Back: the developer takes a linked story in Rally; the requirement becomes bob's.
    requirement = Requirement.objects.filter(feature=feature).first()
    story = _linked(requirement, RecordType.REQUIREMENT)
    dana = RallyPerson.objects.get(integration=integration, email="developer@example.com")
    with sandbox_client(sync_sandbox, sync_sandbox.developer_key) as client:
        client.update(
            f"/hierarchicalrequirement/{story.rally_oid}", {"Owner": f"/user/{dana.rally_oid}"}
        )
    wait_until(
        lambda: (
            run_catch_up(integration.pk) is not None
            and Requirement.objects.get(pk=requirement.pk).assignee_id == bob.pk
        ),
        timeout=WAIT_MS / 1000,
        what="the story's new Owner did not come back as bob",
    )

    # No pair: dave's feature goes without an Owner, and never clears one set in Rally.
    daves = Feature.objects.filter(workspace=platform).exclude(pk=feature.pk).first()
    update_record(daves, changes={"assignee": dave}, user=alice)
    outbox.request_send(record=daves, integration=integration, user=alice, cascade=False)
    daves_link = _linked(daves, RecordType.FEATURE)
    admin = RallyPerson.objects.get(integration=integration, email="admin@example.com")
    ref = f"/portfolioitem/feature/{daves_link.rally_oid}"
    with sandbox_client(sync_sandbox) as client:
        assert client.read(ref, fetch=["Owner"])["Owner"] is None
        client.update(ref, {"Owner": f"/user/{admin.rally_oid}"})
    run_catch_up(integration.pk)
    assert Feature.objects.get(pk=daves.pk).assignee_id == dave.pk  # Alex is no one here
    update_record(
        Feature.objects.get(pk=daves.pk), changes={"name": "Renamed by alice"}, user=alice
    )
    with sandbox_client(sync_sandbox) as client:
        wait_until(
            lambda: client.read(ref, fetch=["Name"])["Name"] == "Renamed by alice",
            timeout=WAIT_MS / 1000,
            what="the rename did not reach Rally",
        )
        assert client.read(ref, fetch=["Owner"])["Owner"]["_refObjectName"] == "Alex Admin"
