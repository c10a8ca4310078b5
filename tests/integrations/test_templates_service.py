from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations.models import Integration, IntegrationState, OutgoingMode
from aharally.integrations.templates_service import (
    TemplateError,
    attach_template,
    effective_config,
    stop_using_as_template,
    templates_available_to,
    use_as_template,
)
from aharally.workspaces.models import RecordType, Role, WorkflowStatus
from tests.factories import add_member, make_user, make_workspace
from tests.integrations.builders import add_mapping, configured_integration, move_state


@pytest.fixture
def owner(db):
    return make_user("owner@example.com")


@pytest.fixture
def template(owner):
    integration = configured_integration(make_workspace("Platform", "PLAT", owner=owner))
    return use_as_template(integration=integration, by=owner)


@pytest.fixture
def derived(owner, template):
    company = make_workspace("Company", "COMP", owner=owner)
    integration = Integration.objects.create(workspace=company, name="Company Rally")
    return attach_template(integration=integration, template=template, by=owner)


def _incoming_names(integration: Integration, record_type: str) -> dict[str, str]:
    status_map = effective_config(integration).mapping_for(record_type).status_map
    return {state: status_map.status_for(state).name for state in status_map.rally_states}


def test_an_integration_built_on_a_template_has_its_mappings_and_modes(template, derived):
    config = effective_config(derived)
    assert config.from_template
    assert [m.rally_type for m in config.record_mappings] == [
        "PortfolioItem/Feature",
        "HierarchicalRequirement",
    ]
    assert config.relationship_links == [("feature", "requirement")]
    assert config.rally_url == template.rally_url
    assert config.authorized
    assert (config.rally_workspace_name, config.rally_project_name) == ("Engineering", "Platform")
    # The statuses are the derived workspace's own, matched by name.
    status_map = config.mapping_for(RecordType.FEATURE).status_map
    assert {s.workspace_id for s in status_map.statuses} == {derived.workspace_id}
    assert _incoming_names(derived, RecordType.FEATURE) == _incoming_names(
        template, RecordType.FEATURE
    )
    assert status_map.problems == []


def test_a_change_to_the_template_status_mapping_shows_in_both_integrations(template, derived):
    assert _incoming_names(derived, RecordType.FEATURE)["Measuring"] != "In development"
    move_state(template, RecordType.FEATURE, "Measuring", "In development")
    move_state(template, RecordType.FEATURE, "Developing", "In development")
    for integration in (template, derived):
        names = _incoming_names(integration, RecordType.FEATURE)
        assert names["Measuring"] == "In development"
        assert names["Developing"] == "In development"


def test_a_change_to_the_template_modes_shows_in_the_derived_integration(template, derived):
    Integration.objects.filter(pk=template.pk).update(outgoing_mode=OutgoingMode.APPROVE)
    derived = Integration.objects.get(pk=derived.pk)
    assert effective_config(derived).outgoing_mode == OutgoingMode.APPROVE


def test_a_status_the_derived_workspace_lacks_is_reported(template, derived):
    WorkflowStatus.objects.filter(
        workspace=derived.workspace, record_type=RecordType.FEATURE, name="Shipped"
    ).update(name="Released")
    problems = effective_config(derived).mapping_for(RecordType.FEATURE).status_map.problems
    assert any("“Shipped”" in problem for problem in problems)


def test_a_derived_integration_may_choose_its_own_child_project(template, derived):
    derived.rally_project_oid, derived.rally_project_name = 3003, "Platform Mobile"
    derived.exclude_child_updates = True
    derived.save()
    config = effective_config(derived)
    assert (config.rally_project_name, config.exclude_child_updates) == ("Platform Mobile", True)
    assert effective_config(template).rally_project_name == "Platform"


def test_effective_config_costs_the_same_queries_whatever_the_mappings(template, derived):
    derived = Integration.objects.get(pk=derived.pk)
    with CaptureQueriesContext(connection) as few:
        effective_config(derived)
    add_mapping(template, RecordType.EPIC, "PortfolioItem/Epic", ["Discovering", "Done"])
    add_mapping(template, RecordType.INITIATIVE, "PortfolioItem/Initiative", ["Done"])
    derived = Integration.objects.get(pk=derived.pk)
    with CaptureQueriesContext(connection) as many:
        config = effective_config(derived)
    assert len(config.record_mappings) == 4
    assert len(many) == len(few) <= 7


def test_only_a_configured_standalone_integration_becomes_a_template(owner, template, derived):
    draft = Integration.objects.create(workspace=template.workspace, name="Draft")
    with pytest.raises(TemplateError, match="Finish configuring"):
        use_as_template(integration=draft)
    with pytest.raises(TemplateError, match="built on a template"):
        use_as_template(integration=derived)
    with pytest.raises(TemplateError, match="already"):
        use_as_template(integration=template)
    draft.refresh_from_db()
    assert not draft.is_template


def test_a_template_in_use_can_not_stop_being_one(template, derived):
    with pytest.raises(TemplateError, match="Company Rally"):
        stop_using_as_template(integration=template)
    template.refresh_from_db()
    assert template.is_template
    derived.delete()
    stop_using_as_template(integration=template)
    template.refresh_from_db()
    assert not template.is_template


def test_only_owners_of_the_template_workspace_may_build_on_it(template):
    contributor = make_user("contributor@example.com")
    add_member(template.workspace, contributor, Role.CONTRIBUTOR)
    elsewhere = make_workspace("Elsewhere", "ELSE", owner=contributor)
    assert list(templates_available_to(contributor)) == []
    integration = Integration.objects.create(workspace=elsewhere, name="Mine")
    with pytest.raises(TemplateError):
        attach_template(integration=integration, template=template, by=contributor)
    integration.refresh_from_db()
    assert integration.template_id is None
    assert integration.state == IntegrationState.DRAFT
