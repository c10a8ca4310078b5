"""Issue 18: a choice added to a mapped field after its value map was made is not dropped
silently — alice sees it on Manage integrations and on the mapping step, in real Chromium, and
leaves it unmapped there (an HTMX form)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from aharally.integrations.models import Direction, FieldMapping
from aharally.integrations.wizard import field_maps
from aharally.records.demo import DEMO_PASSWORD, seed_demo
from aharally.workspaces.custom_fields import add_choice, add_custom_field
from aharally.workspaces.models import Role, Workspace
from tests.browser.conftest import sign_in
from tests.integrations.wizard_support import step_url
from tests.sync.support import connect, sandbox_client

pytestmark = pytest.mark.browser


def test_alice_sees_a_new_choice_unmapped_and_leaves_it_out(page, settings, sync_sandbox):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    seed_demo()
    platform = Workspace.objects.get(prefix="PLAT")
    alice = platform.memberships.get(role=Role.OWNER).user
    integration = connect(platform, sync_sandbox, owner=alice)
    risk = add_custom_field(
        workspace=platform,
        record_type="feature",
        name="Risk",
        kind="choice",
        choices=["Green", "Amber", "Red"],
    )
    with sandbox_client(sync_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        attributes = client.attributes("PortfolioItem/Feature", workspace=engineering.ref)
    field_maps.add_field_mapping(
        record_mapping=integration.record_mappings.get(record_type="feature"),
        field=risk.form_name,
        rally_field="c_RiskLevel",
        direction=Direction.BOTH,
        attributes=attributes,
    )
    add_choice(field=risk, name="Critical")  # Rally has no Critical: nothing to match

    sign_in(
        page,
        alice.email,
        DEMO_PASSWORD,
        next_url=reverse("integrations:manage", kwargs={"prefix": "PLAT"}),
    )
    expect(page.locator(".value-map-news-line")).to_contain_text(
        "Value map: new choice “Critical” of Risk not mapped (neither sent nor applied)"
    )
    page.locator(".value-map-news-line").get_by_role("link").click()
    expect(page.locator(".value-map-news").first).to_contain_text("Value maps to look at")
    board = page.locator("section.value-map")
    expect(board.locator("li.rally-state", has_text="Critical")).to_contain_text("new")
    with page.expect_response(lambda r: "/values/news/" in r.url) as answer:
        board.get_by_role("button", name="Leave unmapped").click()
    assert answer.value.status == 200
    expect(page.locator("section.value-map .value-map-news")).to_have_count(0)
    mapping = FieldMapping.objects.get(field=risk.form_name)
    assert mapping.value_map[str(risk.choices.get(name="Critical").pk)] == ""
    page.goto(step_url(integration, "mappings"))
    expect(page.get_by_text("Value maps to look at")).to_have_count(0)
