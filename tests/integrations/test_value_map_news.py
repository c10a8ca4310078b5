"""What either side adds to a value map after it was made shows as new and unmapped on the
mapping step and on Manage integrations, can be mapped there, and is matched by name."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from aharally.integrations.models import FieldMapping
from aharally.workspaces.custom_fields import add_choice, add_custom_field
from tests.integrations.wizard_support import scoped, step_url

pytestmark = pytest.mark.django_db

FIELDS = "/sandbox-admin/custom-fields"
FEATURE = "PortfolioItem/Feature"


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings, owner_client):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    owner_client.get(step_url(integration, "mappings"))  # the default mappings
    return integration


@pytest.fixture
def tier(rally_sandbox):
    """A drop-down of the test's own on Rally's features (Gold, Silver), removed after."""
    name = f"Tier {uuid.uuid4().hex[:6]}"

    def define(values):
        answer = rally_sandbox.admin(
            "POST",
            FIELDS,
            json={
                "workspace": "Engineering",
                "type": FEATURE,
                "name": name,
                "kind": "DROP_DOWN",
                "allowed_values": values,
            },
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()["field"]

    element = define(["Gold", "Silver"])
    yield element, define
    rally_sandbox.admin(
        "DELETE", FIELDS, json={"workspace": "Engineering", "type": FEATURE, "field": element}
    )


def _feature_mapping(integration):
    return integration.record_mappings.get(record_type="feature")


def _mapped(owner_client, integration, cast, element):
    field = add_custom_field(
        workspace=cast.workspace,
        record_type="feature",
        name="Tier",
        kind="choice",
        choices=["Gold", "Bronze"],
    )
    owner_client.post(
        step_url(integration, "field_add", mapping_id=_feature_mapping(integration).pk),
        {"field": field.form_name, "rally_field": element, "direction": "both"},
    )
    return field, FieldMapping.objects.get(field=field.form_name)


def _page(owner_client, integration) -> str:
    return owner_client.get(step_url(integration, "mappings")).content.decode()


def _manage(owner_client, cast) -> str:
    url = reverse("integrations:manage", kwargs={"prefix": cast.workspace.prefix})
    return owner_client.get(url).content.decode()


def test_a_choice_added_later_shows_as_new_and_unmapped_until_it_is_mapped(
    owner_client, integration, cast, tier
):
    element, _define = tier
    field, mapping = _mapped(owner_client, integration, cast, element)
    assert "New since this value map was made" not in _page(owner_client, integration)

    platinum = add_choice(field=field, name="Platinum")

    page = _page(owner_client, integration)
    assert "Value maps to look at" in page
    assert "new choice “Platinum” of Tier not mapped (neither sent nor applied)" in page
    assert 'Platinum <span class="badge new">new</span>' in page
    assert "Value map: new choice “Platinum” of Tier not mapped" in _manage(owner_client, cast)
    # Mapped on the board: the warning goes from both pages.
    url = step_url(
        integration,
        "value_map",
        mapping_id=_feature_mapping(integration).pk,
        field_mapping_id=mapping.pk,
    )
    answer = owner_client.post(url, {"choice": platinum.pk, "value": "Gold"})
    assert answer.status_code == 302
    mapping.refresh_from_db()
    assert mapping.value_map[str(platinum.pk)] == "Gold"
    assert "Value maps to look at" not in _page(owner_client, integration)
    assert "Value map:" not in _manage(owner_client, cast)


def test_a_choice_added_with_the_name_of_a_rally_value_is_matched_at_once(
    owner_client, integration, cast, tier
):
    element, _define = tier
    field, mapping = _mapped(owner_client, integration, cast, element)

    silver = add_choice(field=field, name="silver")

    mapping.refresh_from_db()
    assert mapping.value_map[str(silver.pk)] == "Silver"
    assert "Value maps to look at" not in _page(owner_client, integration)


def test_a_value_rally_adds_shows_as_new_and_matches_a_choice_of_its_name(
    owner_client, integration, cast, tier
):
    element, define = tier
    field, mapping = _mapped(owner_client, integration, cast, element)
    bronze = field.choices.get(name="Bronze")
    assert mapping.value_map[str(bronze.pk)] == ""  # Rally had no Bronze

    define(["Gold", "Silver", "Bronze", "Platinum"])
    page = _page(owner_client, integration)

    # Bronze now exists in Rally: the choice left out for want of it takes it.
    assert "Matched by name: Bronze → Bronze." in page
    mapping.refresh_from_db()
    assert mapping.value_map[str(bronze.pk)] == "Bronze"
    # Platinum: no choice of that name; shown as new until the owner decides.
    assert "new Rally value “Platinum” that no choice of Tier maps to" in page
    assert 'Platinum <span class="badge new">new in Rally</span>' in page
    left = owner_client.post(
        step_url(
            integration,
            "value_news",
            mapping_id=_feature_mapping(integration).pk,
            field_mapping_id=mapping.pk,
        ),
        headers={"HX-Request": "true"},
    )
    assert left.status_code == 200
    assert "New since this value map was made" not in left.content.decode()
    assert "Value maps to look at" not in _page(owner_client, integration)


def test_only_owners_leave_news_unmapped(client, cast, integration, tier):
    element, _define = tier
    client.force_login(cast.owner)
    _field, mapping = _mapped(client, integration, cast, element)
    url = step_url(
        integration,
        "value_news",
        mapping_id=_feature_mapping(integration).pk,
        field_mapping_id=mapping.pk,
    )
    client.force_login(cast.contributor)
    assert client.post(url).status_code == 403


def test_a_map_saved_before_it_remembered_anything_matches_nothing_by_itself(cast):
    from aharally.integrations.value_map_news import news_of

    field = add_custom_field(
        workspace=cast.workspace,
        record_type="feature",
        name="Tier",
        kind="choice",
        choices=["Gold", "Silver"],
    )
    gold = field.choices.get(name="Gold")
    # Silver has a Rally value of its name, but the owner may have unmapped it on purpose.
    news = news_of(field, {str(gold.pk): "Gold"}, ["Gold", "Silver", "Bronze"])
    assert news.matches == {}
    assert [c.name for c in news.new_choices] == ["Silver"]
    assert news.new_values == []  # what Rally had then is unknown: none counts as new
