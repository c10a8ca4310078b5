from __future__ import annotations

import datetime

import pytest
from django.test import override_settings

from aharally.records.forms import FeatureForm, RequirementForm
from aharally.records.models import Feature, Initiative
from aharally.records.services import create_initiative
from aharally.workspaces.models import RecordType, RequiredField, WorkflowStatus
from tests.factories import make_feature, make_release, make_workspace, parking_lot


def feature_data(workspace, **overrides):
    data = {
        "name": "Single sign-on",
        "release": parking_lot(workspace).pk,
        "status": WorkflowStatus.objects.filter(workspace=workspace, record_type=RecordType.FEATURE)
        .first()
        .pk,
    }
    data.update(overrides)
    return data


def test_a_valid_feature_form_reports_only_the_changed_fields(cast):
    feature = make_feature(cast.workspace, name="Old name")
    form = FeatureForm(
        data=feature_data(cast.workspace, name="New name", status=feature.status_id),
        instance=feature,
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.is_valid(), form.errors
    assert form.changes() == {"name": "New name"}
    feature.refresh_from_db()
    assert feature.name == "Old name"  # the form never writes its instance


def test_a_due_date_before_the_start_date_is_refused(cast):
    form = FeatureForm(
        data=feature_data(cast.workspace, start_date="2026-05-02", due_date="2026-05-01"),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert form.errors["due_date"] == ["This date must not be before the start date."]


def test_an_impossible_date_is_refused(cast):
    form = FeatureForm(
        data=feature_data(cast.workspace, start_date="2026-02-31"),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert "start_date" in form.errors


def test_a_status_of_another_workflow_is_refused(cast):
    requirement_status = WorkflowStatus.objects.filter(
        workspace=cast.workspace, record_type=RecordType.INITIATIVE
    ).first()
    foreign_status = WorkflowStatus.objects.filter(
        workspace=cast.other_workspace, record_type=RecordType.FEATURE
    ).first()
    for status in (requirement_status, foreign_status):
        form = FeatureForm(
            data=feature_data(cast.workspace, status=status.pk),
            workspace=cast.workspace,
            user=cast.contributor,
        )
        assert not form.is_valid()
        assert form.errors["status"] == ["Choose a status of this workspace's workflow."]


def test_a_release_of_another_workspace_is_refused(cast):
    foreign = parking_lot(cast.other_workspace)
    form = FeatureForm(
        data=feature_data(cast.workspace, release=foreign.pk),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert form.errors["release"] == ["Choose a release of this workspace."]


def test_an_initiative_of_a_workspace_the_user_does_not_belong_to_is_refused(cast):
    hidden = create_initiative(workspace=cast.other_workspace, name="Secret plan")
    form = FeatureForm(
        data=feature_data(cast.workspace, initiative=hidden.pk),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert form.errors["initiative"] == ["Choose an initiative from a workspace you belong to."]


def test_an_initiative_of_another_workspace_the_user_belongs_to_is_accepted(cast):
    company = make_workspace("Company", "CO", owner=cast.contributor)
    initiative = create_initiative(workspace=company, name="Grow revenue")
    form = FeatureForm(
        data=feature_data(cast.workspace, initiative=initiative.pk),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["initiative"] == Initiative.objects.get(reference="CO-I-1")


def test_a_field_required_by_the_custom_layout_must_be_filled(cast):
    RequiredField.objects.create(
        workspace=cast.workspace, record_type=RecordType.FEATURE, field_name="due_date"
    )
    form = FeatureForm(
        data=feature_data(cast.workspace), workspace=cast.workspace, user=cast.contributor
    )
    assert not form.is_valid()
    assert form.errors["due_date"] == ["This field is required by the workspace's custom layout."]


def test_an_oversized_name_is_refused(cast):
    form = FeatureForm(
        data=feature_data(cast.workspace, name="x" * 256),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert "at most 255 characters" in form.errors["name"][0]


@override_settings(RICH_TEXT_MAX_LENGTH=50)
def test_an_oversized_description_is_refused(cast):
    form = FeatureForm(
        data=feature_data(cast.workspace, description="<p>" + "x" * 60 + "</p>"),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert "at most 50 characters" in form.errors["description"][0]


def test_the_description_is_sanitised(cast):
    form = FeatureForm(
        data=feature_data(
            cast.workspace, description='<p onclick="x()">Hi<script>alert(1)</script></p>'
        ),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["description"] == "<p>Hi</p>"


def test_the_release_select_offers_only_this_workspaces_releases(cast):
    release = make_release(cast.workspace, name="Release 2")
    make_release(cast.other_workspace, name="Foreign")
    form = FeatureForm(workspace=cast.workspace, user=cast.contributor)
    labels = [label for _value, label in form.fields["release"].choices]
    assert labels == [f"{release.reference} Release 2", "PLAT-R-1 Parking lot"]


@pytest.mark.parametrize("estimate", ["-", "1e999", "123456789"])
def test_a_requirement_with_a_nonsense_estimate_is_refused(cast, estimate):
    form = RequirementForm(
        data={"name": "Login page", "estimate": estimate},
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert not form.is_valid()
    assert "estimate" in form.errors


def test_a_requirement_form_accepts_a_plain_requirement(cast):
    form = RequirementForm(
        data={"name": "Login page", "due_date": datetime.date(2026, 1, 2).isoformat()},
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.is_valid(), form.errors
    assert Feature.objects.count() == 0


@pytest.mark.parametrize("form_class", [FeatureForm, RequirementForm])
def test_a_negative_estimate_is_refused(cast, form_class):
    data = feature_data(cast.workspace, estimate="-3")
    form = form_class(data=data, workspace=cast.workspace, user=cast.contributor)
    assert not form.is_valid()
    assert form.errors["estimate"] == ["An estimate cannot be negative."]
    assert 'min="0"' in str(form["estimate"])


def test_an_estimate_of_zero_is_accepted(cast):
    form = FeatureForm(
        data=feature_data(cast.workspace, estimate="0"),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.is_valid(), form.errors


def test_a_long_name_is_not_cut_by_the_browser_but_refused_with_its_length(cast):
    form = FeatureForm(workspace=cast.workspace, user=cast.contributor)
    assert "maxlength" not in str(form["name"])  # a paste would be cut without a word
    form = FeatureForm(
        data=feature_data(cast.workspace, name="x" * 300),
        workspace=cast.workspace,
        user=cast.contributor,
    )
    assert form.errors["name"] == ["Ensure this value has at most 255 characters (it has 300)."]
