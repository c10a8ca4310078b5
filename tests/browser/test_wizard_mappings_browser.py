"""The mappings step's "Save and continue" keeps what the page shows."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Direction, RelationshipLink, WizardStep
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user, make_workspace
from tests.integrations.wizard_support import reach, scoped, step_url

pytestmark = pytest.mark.browser


def test_a_changed_direction_and_an_unticked_link_survive_save_and_continue(
    page, settings, rally_sandbox
):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    owner = make_user("owner@example.com")
    workspace = make_workspace("Payments", "PAY", owner=owner)
    integration = reach(scoped(workspace, owner, rally_sandbox), WizardStep.MAPPINGS)
    sign_in(page, owner.email, PASSWORD, next_url=step_url(integration, "mappings"))

    feature = integration.record_mappings.get(record_type="feature")
    row = page.locator("#mapping-feature + tr")
    row.locator("summary").click()
    row.get_by_label("Description").select_option(Direction.TO_RALLY)
    link = page.get_by_label("Feature → Requirement")
    assert link.is_checked()
    link.uncheck()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/wizard/statuses/")

    page.get_by_role("link", name="← Back").click()
    page.wait_for_url("**/wizard/mappings/")
    row = page.locator("#mapping-feature + tr")
    row.locator("summary").click()
    assert row.get_by_label("Description").input_value() == Direction.TO_RALLY
    assert not page.get_by_label("Feature → Requirement").is_checked()
    assert feature.field_mappings.get(field="description").direction == Direction.TO_RALLY
    assert not RelationshipLink.objects.filter(
        integration=integration, parent_type="feature", child_type="requirement"
    ).exists()
