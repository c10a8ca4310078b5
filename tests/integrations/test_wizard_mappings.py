"""Step 6: record mappings, field mappings and relationship links, against the sandbox."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Direction, FieldMapping, RecordMapping, WizardStep
from aharally.integrations.wizard import mappings
from tests.integrations.wizard_support import scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings):
    return scoped(cast.workspace, cast.owner, rally_sandbox)


def mappings_of(integration) -> dict[str, str]:
    return dict(integration.record_mappings.values_list("record_type", "rally_type"))


def links_of(integration) -> set[tuple[str, str]]:
    return set(integration.relationship_links.values_list("parent_type", "child_type"))


def test_the_default_mappings_are_created_on_the_first_visit(owner_client, integration):
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert mappings_of(integration) == {
        "initiative": "PortfolioItem/Initiative",
        "feature": "PortfolioItem/Feature",
        "requirement": "HierarchicalRequirement",
        "release": "Release",
    }
    assert links_of(integration) == {
        ("initiative", "feature"),
        ("release", "feature"),
        ("feature", "requirement"),
    }
    feature = integration.record_mappings.get(record_type="feature")
    fields = dict(feature.field_mappings.values_list("field", "rally_field"))
    assert fields["assignee"] == "Owner"
    assert fields["estimate"] == "RefinedEstimate"
    assert fields["start_date"] == "PlannedStartDate"
    story = integration.record_mappings.get(record_type="requirement")
    assert story.field_mappings.get(field="estimate").rally_field == "PlanEstimate"
    assert story.field_mappings.get(field="status").rally_field == "ScheduleState"
    release = integration.record_mappings.get(record_type="release")
    assert release.field_mappings.get(field="release_date").rally_field == "ReleaseDate"
    # Field mappings are advanced: collapsed by default.
    assert '<details class="field-mappings">' in page
    assert '<details class="field-mappings" open' not in page
    # A second visit does not duplicate anything.
    owner_client.get(step_url(integration, "mappings"))
    assert RecordMapping.objects.filter(integration=integration).count() == 4


def test_an_epic_can_be_mapped_to_a_portfolio_item_type_rally_reports(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    owner_client.post(
        step_url(
            integration,
            "mapping_remove",
            mapping_id=integration.record_mappings.get(record_type="initiative").pk,
        )
    )
    response = owner_client.post(
        step_url(integration, "mapping_add"),
        {"record_type": "epic", "rally_type": "PortfolioItem/Initiative"},
    )
    assert response.status_code == 302
    assert mappings_of(integration)["epic"] == "PortfolioItem/Initiative"


def test_a_mapping_to_a_type_rally_does_not_have_is_refused_and_nothing_is_saved(
    owner_client, integration
):
    owner_client.get(step_url(integration, "mappings"))
    response = owner_client.post(
        step_url(integration, "mapping_add"),
        {"record_type": "epic", "rally_type": "PortfolioItem/Capability"},
    )
    assert response.status_code == 400
    assert "Rally has no type “PortfolioItem/Capability” in this workspace" in (
        response.content.decode()
    )
    assert "epic" not in mappings_of(integration)


def test_a_requirement_can_only_map_to_a_user_story(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    requirement = integration.record_mappings.get(record_type="requirement")
    owner_client.post(step_url(integration, "mapping_remove", mapping_id=requirement.pk))
    response = owner_client.post(
        step_url(integration, "mapping_add"),
        {"record_type": "requirement", "rally_type": "PortfolioItem/Theme"},
    )
    assert response.status_code == 400
    assert "can only map to HierarchicalRequirement" in response.content.decode()


def test_removing_a_mapping_removes_the_links_that_needed_it(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    response = owner_client.post(step_url(integration, "mapping_remove", mapping_id=feature.pk))
    page = owner_client.get(response["Location"]).content.decode()
    assert "Relationship links that needed it were removed too" in page
    assert "feature" not in mappings_of(integration)
    assert links_of(integration) == set()
    assert not FieldMapping.objects.filter(record_mapping_id=feature.pk).exists()


def test_a_field_direction_can_be_changed_or_a_field_left_out(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {
            f"m{feature.pk}-description": Direction.TO_RALLY,
            f"m{feature.pk}-tags": "",
            f"m{feature.pk}-estimate": Direction.ONCE,
        },
    )
    directions = dict(feature.field_mappings.values_list("field", "direction"))
    assert directions["description"] == Direction.TO_RALLY
    assert directions["estimate"] == Direction.ONCE
    assert "tags" not in directions
    assert directions["name"] == Direction.BOTH


def test_relationship_links_are_validated_against_the_record_mappings(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    response = owner_client.post(
        step_url(integration, "links"),
        {"links": ["feature:requirement", "epic:feature"], "links-shown": "1"},
    )
    page = owner_client.get(response["Location"]).content.decode()
    assert "Epic → Feature needs epics mapped to Rally first" in page
    # Nothing half-saved: the links are as they were.
    assert ("initiative", "feature") in links_of(integration)
    owner_client.post(
        step_url(integration, "links"), {"links": ["feature:requirement"], "links-shown": "1"}
    )
    assert links_of(integration) == {("feature", "requirement")}


def test_save_and_continue_saves_the_directions_and_links_on_the_page(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    kept = links_of(integration) - {("feature", "requirement")}
    response = owner_client.post(
        step_url(integration, "mappings"),
        {
            f"m{feature.pk}-description": Direction.TO_RALLY,
            "links": [f"{p}:{c}" for p, c in kept],
            "links-shown": "1",
        },
    )
    assert response["Location"] == step_url(integration, "statuses")
    directions = dict(feature.field_mappings.values_list("field", "direction"))
    assert directions["description"] == Direction.TO_RALLY
    assert directions["name"] == Direction.BOTH  # not on the form: left as it was
    assert links_of(integration) == kept


def test_save_and_continue_saves_nothing_when_one_value_is_refused(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    before = links_of(integration)
    response = owner_client.post(
        step_url(integration, "mappings"),
        {f"m{feature.pk}-description": Direction.TO_RALLY, f"m{feature.pk}-name": "sideways"},
    )
    assert response.status_code == 400
    assert "Choose a direction for each field." in response.content.decode()
    assert feature.field_mappings.get(field="description").direction == Direction.BOTH
    assert links_of(integration) == before
    integration.refresh_from_db()
    assert integration.wizard_step == WizardStep.MAPPINGS


def test_save_and_continue_needs_at_least_one_mapping(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    response = owner_client.post(step_url(integration, "mappings"))
    assert response["Location"] == step_url(integration, "statuses")
    integration.refresh_from_db()
    assert integration.wizard_step == WizardStep.STATUSES
    for mapping in integration.record_mappings.all():
        mappings.remove_record_mapping(integration=integration, mapping_id=mapping.pk)
    response = owner_client.post(step_url(integration, "mappings"))
    assert response.status_code == 400
    assert "Map at least one aharally record type" in response.content.decode()


@pytest.fixture(scope="module")
def strict_rally():
    """A sandbox of its own whose Engineering workspace requires Notes on features."""
    from tests.sandbox import RallySandbox

    with RallySandbox() as sandbox:
        result = sandbox.command(
            "manage",
            "shell",
            "-c",
            "from rally_sandbox.accounts.models import Workspace\n"
            "from rally_sandbox.wsapi.models import RequiredField\n"
            "RequiredField.objects.create(workspace=Workspace.objects.get(name='Engineering'),"
            " type_path='PortfolioItem/Feature', element_name='Notes')\n",
            check=False,
        )
        assert result.returncode == 0, result.stderr
        yield sandbox


def test_a_required_rally_field_no_mapping_fills_is_pointed_out(
    owner_client, cast, strict_rally, wizard_settings
):
    integration = scoped(cast.workspace, cast.owner, strict_rally)
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert (
        "Rally requires <strong>Notes</strong> on Feature, and no field mapping fills it." in page
    )
    assert "Required flag" in page
    assert "/w/PLAT/settings/layouts/" in page
    # Fields the defaults fill (Release dates and State) are not reported.
    gaps = page.split("Required fields in Rally")[1].split("</ul>")[0]
    assert gaps.count("<li>") == 1
    assert "Release Date" not in gaps and "Name" not in gaps


def test_the_mappings_step_asks_rally_a_fixed_number_of_requests(
    owner_client, integration, rally_sandbox
):
    from tests.integrations.wizard_support import RallyRequestCounter

    owner_client.get(step_url(integration, "mappings"))
    counter = RallyRequestCounter(rally_sandbox)
    counter.reset()
    owner_client.get(step_url(integration, "mappings"))
    # The mappable types (1), then each mapping's fields (type + attributes: 2 each), then the
    # allowed values of each custom drop-down (the demo's c_RiskLevel of stories and features,
    # and the features' multi-value c_Platforms).
    assert counter.count == 12


def test_the_step_lists_rallys_custom_fields_and_matches_ours_by_name(
    owner_client, cast, integration
):
    from aharally.workspaces import custom_fields

    def add(name, kind, choices=()):
        custom_fields.add_custom_field(
            workspace=cast.workspace, record_type="feature", name=name, kind=kind, choices=choices
        )

    add("Risk level", "choice", ["green", "Amber", "Crimson"])
    add("Customer", "date")
    add("Budget", "number")
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    section = page.split('id="custom-fields-feature"')[1].split("</section>")[0]
    # Rally's, as Rally reports them.
    assert 'Risk Level <span class="muted small">c_RiskLevel</span>' in section
    assert "Green, Amber, Red" in section
    # Ours, matched by name; values by name too, and what has no match is said.
    assert "green → Green" in section and "Amber → Amber" in section
    assert 'Crimson → <span class="field-error">no value of that name</span>' in section
    assert (
        "Customer is a date field; Rally&#x27;s Customer is STRING: map it to a date field."
        in section
    )
    assert "No Rally field of that name" in section  # Budget


def test_comments_and_attachments_have_a_direction_line_both_ways_by_default(
    owner_client, integration
):
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    feature = integration.record_mappings.get(record_type="feature")
    assert f'name="m{feature.pk}-comments"' in page
    assert f'name="m{feature.pk}-attachments"' in page
    # No line stored: both ways.
    assert not feature.field_mappings.filter(field__in=["comments", "attachments"]).exists()

    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"m{feature.pk}-comments": "off", f"m{feature.pk}-attachments": Direction.TO_RALLY},
    )
    directions = dict(feature.field_mappings.values_list("field", "direction"))
    assert (directions["comments"], directions["attachments"]) == ("off", Direction.TO_RALLY)
    page = owner_client.get(step_url(integration, "mappings")).content.decode()
    assert '<option value="off" selected>Off</option>' in page

    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"m{feature.pk}-comments": Direction.BOTH, f"m{feature.pk}-attachments": "off"},
    )
    directions = dict(feature.field_mappings.values_list("field", "direction"))
    assert "comments" not in directions  # both ways again: no line
    assert directions["attachments"] == "off"


def test_a_comments_line_takes_no_set_once_direction(owner_client, integration):
    owner_client.get(step_url(integration, "mappings"))
    feature = integration.record_mappings.get(record_type="feature")
    owner_client.post(
        step_url(integration, "mapping_fields", mapping_id=feature.pk),
        {f"m{feature.pk}-comments": Direction.ONCE},
    )
    assert not feature.field_mappings.filter(field="comments").exists()
