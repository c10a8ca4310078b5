"""The mapping step's "Map another field" and value maps, against the sandbox."""

from __future__ import annotations

import pytest

from aharally.integrations.models import FieldMapping
from aharally.workspaces.custom_fields import add_custom_field
from tests.integrations.wizard_support import scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings, owner_client):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    owner_client.get(step_url(integration, "mappings"))  # the default mappings
    return integration


@pytest.fixture
def risk(cast):
    return add_custom_field(
        workspace=cast.workspace,
        record_type="feature",
        name="Risk",
        kind="choice",
        choices=["Low", "Medium", "Green"],
    )


def feature_mapping(integration):
    return integration.record_mappings.get(record_type="feature")


def add_url(integration):
    return step_url(integration, "field_add", mapping_id=feature_mapping(integration).pk)


def test_the_step_offers_every_field_of_the_type_as_rally_reports_it(
    owner_client, integration, risk
):
    page = owner_client.get(step_url(integration, "mappings")).content.decode()

    assert "Map another field" in page
    assert f'<option value="{risk.form_name}">Risk (single choice)</option>' in page
    assert "Risk Level (c_RiskLevel) — STRING: Green, Amber, Red" in page
    assert "Planned Start Date (PlannedStartDate) — DATE" in page


def test_a_custom_choice_maps_to_a_drop_down_with_its_values_matched_by_name(
    owner_client, integration, risk
):
    response = owner_client.post(
        add_url(integration),
        {"field": risk.form_name, "rally_field": "c_RiskLevel", "direction": "both"},
    )

    assert response.status_code == 302
    mapping = FieldMapping.objects.get(field=risk.form_name)
    assert mapping.rally_field == "c_RiskLevel" and mapping.direction == "both"
    green = risk.choices.get(name="Green")
    low, medium = risk.choices.get(name="Low"), risk.choices.get(name="Medium")
    # Low and Medium: no such value, left out knowingly; Rally's values then are remembered.
    assert mapping.value_map == {
        str(green.pk): "Green",
        str(low.pk): "",
        str(medium.pk): "",
        "rally_values": ["Green", "Amber", "Red"],
    }
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert "Values of Risk ↔ Rally's c_RiskLevel" in page


def test_an_incompatible_mapping_is_refused_with_its_reason_on_the_form(
    owner_client, integration, cast
):
    points = add_custom_field(
        workspace=cast.workspace, record_type="feature", name="Points", kind="number"
    )

    response = owner_client.post(
        add_url(integration),
        {"field": points.form_name, "rally_field": "c_Customer", "direction": "both"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    text = response.content.decode()
    assert "Points is a number field; Rally&#x27;s Customer is STRING" in text
    assert "map it to an integer or decimal field" in text
    assert not FieldMapping.objects.filter(field=points.form_name).exists()


def test_a_read_only_rally_field_is_refused(owner_client, integration):
    response = owner_client.post(
        add_url(integration),
        {"field": "name", "rally_field": "FormattedID", "direction": "both"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    assert "is read-only" in response.content.decode()


def test_a_value_map_takes_one_of_rallys_values_and_refuses_others(owner_client, integration, risk):
    owner_client.post(
        add_url(integration),
        {"field": risk.form_name, "rally_field": "c_RiskLevel", "direction": "both"},
    )
    mapping = FieldMapping.objects.get(field=risk.form_name)
    url = step_url(
        integration,
        "value_map",
        mapping_id=feature_mapping(integration).pk,
        field_mapping_id=mapping.pk,
    )
    low, medium = risk.choices.get(name="Low"), risk.choices.get(name="Medium")

    owner_client.post(url, {"choice": low.pk, "value": "Amber"}, headers={"HX-Request": "true"})
    owner_client.post(url, {"choice": medium.pk, "value": "Amber"}, headers={"HX-Request": "true"})
    refused = owner_client.post(
        url, {"choice": low.pk, "value": "Purple"}, headers={"HX-Request": "true"}
    )

    mapping.refresh_from_db()
    assert mapping.value_map[str(low.pk)] == "Amber"  # many-to-one
    assert mapping.value_map[str(medium.pk)] == "Amber"
    assert refused.status_code == 400
    assert "“Purple” is not one of Rally&#x27;s values of c_RiskLevel" in refused.content.decode()


@pytest.mark.parametrize(("who", "status"), [("contributor", 403), ("outsider", 404)])
def test_only_owners_add_field_mappings(client, cast, integration, risk, who, status):
    client.force_login(getattr(cast, who))

    response = client.post(
        add_url(integration),
        {"field": risk.form_name, "rally_field": "c_RiskLevel", "direction": "both"},
    )

    assert response.status_code == status
    assert not FieldMapping.objects.filter(field=risk.form_name).exists()


def test_a_multiple_choice_maps_to_rallys_multi_value_drop_down_with_a_value_map(
    owner_client, integration, cast
):
    platforms = add_custom_field(
        workspace=cast.workspace,
        record_type="feature",
        name="Platforms",
        kind="choices",
        choices=["Web", "iPhone"],
    )
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert "Platforms (c_Platforms) — COLLECTION: Web, iOS, Android" in page

    response = owner_client.post(
        add_url(integration),
        {"field": platforms.form_name, "rally_field": "c_Platforms", "direction": "both"},
    )

    assert response.status_code == 302
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert "Values of Platforms ↔ Rally's c_Platforms" in page
    assert 'data-status="iOS"' in page and 'data-status="Android"' in page
