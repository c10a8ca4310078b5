"""Step 6 shows and saves each two-way field's conflict policy (docs/sync.md)."""

from __future__ import annotations

import pytest

from aharally.conflictpolicy.models import ConflictPolicy, Policy, policy_of
from aharally.integrations.models import Direction
from tests.integrations.wizard_support import scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings):
    return scoped(cast.workspace, cast.owner, rally_sandbox)


def test_a_two_way_fields_policy_is_shown_and_saved(owner_client, integration):
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    feature = integration.record_mappings.get(record_type="feature")
    assert "When both sides changed it" in page
    assert f'name="c{feature.pk}-name"' in page  # name goes both ways: a policy to choose

    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"c{feature.pk}-name": Policy.RALLY, f"c{feature.pk}-status": Policy.RECENT},
    )

    name = feature.field_mappings.select_related("conflict_policy_row").get(field="name")
    status = feature.field_mappings.select_related("conflict_policy_row").get(field="status")
    assert (policy_of(name), policy_of(status)) == (Policy.RALLY, Policy.RECENT)
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert f'<option value="{Policy.RALLY}" selected>Rally wins</option>' in page

    # Back to Ask a reviewer: no row is kept.
    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"c{feature.pk}-name": Policy.ASK},
    )
    assert not ConflictPolicy.objects.filter(field_mapping=name).exists()


def test_a_field_that_no_longer_goes_both_ways_keeps_no_policy(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"c{feature.pk}-description": Policy.AHARALLY},
    )
    assert ConflictPolicy.objects.count() == 1
    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"m{feature.pk}-description": Direction.TO_RALLY},
    )
    assert not ConflictPolicy.objects.exists()


def test_an_unknown_policy_is_refused_and_nothing_is_saved(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    answer = owner_client.post(
        step_url(integration, "mappings"),
        {f"c{feature.pk}-name": "coin-toss", f"m{feature.pk}-description": Direction.TO_RALLY},
    )
    assert answer.status_code == 400
    assert "Choose a conflict policy from the list" in answer.content.decode()
    assert not ConflictPolicy.objects.exists()
    assert feature.field_mappings.get(field="description").direction == Direction.BOTH
