"""A template group shares its custom fields: copies in every workspace built on the template."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Integration
from aharally.integrations.templates_service import attach_template, use_as_template
from aharally.records.models import CustomValue, RecordChange
from aharally.records.services import update_record
from aharally.workspaces import custom_fields
from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.models import CustomField, CustomFieldChoice
from tests.factories import make_feature, make_user, make_workspace
from tests.integrations.builders import configured_integration


@pytest.fixture
def owner(db):
    return make_user("owner@example.com")


@pytest.fixture
def template(owner):
    integration = configured_integration(make_workspace("Platform", "PLAT", owner=owner))
    return use_as_template(integration=integration, by=owner)


@pytest.fixture
def risk(template):
    return custom_fields.add_custom_field(
        workspace=template.workspace,
        record_type="feature",
        name="Risk",
        kind="choice",
        help_text="How likely it slips",
        choices=["Low", "Medium", "High"],
    )


def join(owner, template, name="Company", prefix="COMP"):
    workspace = make_workspace(name, prefix, owner=owner)
    integration = Integration.objects.create(workspace=workspace, name=f"{name} Rally")
    attach_template(integration=integration, template=template, by=owner)
    return workspace


def copy_of(field, workspace):
    return CustomField.objects.get(workspace=workspace, shared_from=field)


def test_joining_a_template_copies_its_custom_fields(owner, template, risk):
    company = join(owner, template)
    copy = copy_of(risk, company)
    assert (copy.key, copy.name, copy.kind, copy.help_text) == (
        "risk",
        "Risk",
        "choice",
        "How likely it slips",
    )
    assert [c.name for c in copy.choices.all()] == ["Low", "Medium", "High"]


def test_changes_in_the_templates_workspace_reach_every_copy(owner, template, risk):
    company = join(owner, template)
    feature = make_feature(company)
    copy = copy_of(risk, company)
    high = CustomFieldChoice.objects.get(field=copy, name="High")
    update_record(feature, changes={"cf_risk": high})

    custom_fields.update_custom_field(field=risk, name="Delivery risk", required=True)
    source_high = CustomFieldChoice.objects.get(field=risk, name="High")
    custom_fields.rename_choice(choice=source_high, name="Severe")
    custom_fields.add_choice(field=risk, name="Unknown")
    custom_fields.add_custom_field(
        workspace=template.workspace, record_type="epic", name="Theme", kind="text"
    )

    copy.refresh_from_db()
    assert (copy.name, copy.required) == ("Delivery risk", True)
    assert [c.name for c in copy.choices.all()] == ["Low", "Medium", "Severe", "Unknown"]
    assert CustomValue.objects.get(record_id=feature.pk).choice.name == "Severe"
    assert CustomField.objects.filter(workspace=company, key="theme", record_type="epic").exists()


def test_deleting_a_shared_choice_moves_the_records_of_every_workspace(owner, template, risk):
    company = join(owner, template)
    ours, theirs = make_feature(template.workspace), make_feature(company)
    pick = CustomFieldChoice.objects.get
    update_record(ours, changes={"cf_risk": pick(field=risk, name="High")})
    update_record(theirs, changes={"cf_risk": pick(field__workspace=company, name="High")})
    changed = custom_fields.delete_choice(
        choice=pick(field=risk, name="High"), replacement=pick(field=risk, name="Medium")
    )
    assert changed == 2
    assert set(CustomValue.objects.values_list("choice__name", flat=True)) == {"Medium"}
    assert not CustomFieldChoice.objects.filter(name="High").exists()
    assert RecordChange.objects.filter(field="cf_risk", new_value="Medium").count() == 2


def test_a_copy_is_changed_in_the_templates_workspace_only(owner, template, risk):
    company = join(owner, template)
    copy = copy_of(risk, company)
    with pytest.raises(WorkspaceError, match="change it in Platform's custom layout"):
        custom_fields.update_custom_field(field=copy, name="Mine")
    with pytest.raises(WorkspaceError, match="shared by an integration template from Platform"):
        custom_fields.add_choice(field=copy, name="Extra")


def test_the_layout_page_says_where_a_shared_field_is_changed(client, owner, template, risk):
    company = join(owner, template)
    copy = copy_of(risk, company)
    client.force_login(owner)
    html = client.get("/w/COMP/settings/layouts/").content.decode()
    assert "Shared by an integration template from Platform" in html
    assert f'action="/w/COMP/settings/fields/{copy.pk}/"' not in html  # no edit form


def test_a_workspaces_own_field_of_the_same_key_is_adopted_with_its_values(owner, template, risk):
    company = make_workspace("Company", "COMP", owner=owner)
    own = custom_fields.add_custom_field(
        workspace=company, record_type="feature", name="Risk", kind="choice", choices=["high"]
    )
    feature = make_feature(company)
    update_record(feature, changes={"cf_risk": own.choices.get()})
    integration = Integration.objects.create(workspace=company, name="Company Rally")
    attach_template(integration=integration, template=template, by=owner)
    own.refresh_from_db()
    assert own.shared_from_id == risk.pk
    assert [c.name for c in own.choices.all()] == ["Low", "Medium", "High"]
    assert CustomValue.objects.get(record_id=feature.pk).choice.name == "High"


def test_deleting_the_templates_field_leaves_each_copy_to_its_workspace(owner, template, risk):
    company = join(owner, template)
    copy = copy_of(risk, company)
    custom_fields.delete_custom_field(field=risk)
    copy.refresh_from_db()
    assert copy.shared_from_id is None
    custom_fields.update_custom_field(field=copy, name="Ours now")


def test_a_workspace_that_leaves_the_template_keeps_the_fields_as_its_own(owner, template, risk):
    from aharally.integrations.lifecycle import delete_integration

    company = join(owner, template)
    copy = copy_of(risk, company)
    feature = make_feature(company)
    update_record(feature, changes={"cf_risk": copy.choices.get(name="Low")})
    delete_integration(integration=Integration.objects.get(workspace=company), by=owner)
    copy.refresh_from_db()
    assert copy.shared_from_id is None
    assert not CustomFieldChoice.objects.filter(field=copy, shared_from__isnull=False).exists()
    custom_fields.rename_choice(choice=copy.choices.get(name="Low"), name="Minor")
    assert CustomValue.objects.get(record_id=feature.pk).choice.name == "Minor"
    # The template's own workspace is untouched.
    risk.refresh_from_db()
    assert [c.name for c in risk.choices.all()] == ["Low", "Medium", "High"]
