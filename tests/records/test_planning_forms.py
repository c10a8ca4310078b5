"""Bad input on the record pages: a clear message on the form, nothing saved half-way."""

from __future__ import annotations

import pytest

from aharally.records.models import Epic, Feature, Initiative, RecordChange, Release
from aharally.records.services import create_epic, create_initiative
from tests.factories import make_feature, make_release, make_workspace, parking_lot


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def contributor(client, cast):
    client.force_login(cast.contributor)
    return client


def test_an_end_date_before_the_start_date_is_refused(contributor):
    response = contributor.post(
        "/w/PLAT/initiatives/new/",
        {"name": "Grow", "start_date": "2027-05-01", "due_date": "2027-04-01"},
    )
    assert "This date must not be before the start date." in _html(response)
    assert not Initiative.objects.exists()


def test_a_release_date_before_its_start_is_refused(contributor):
    response = contributor.post(
        "/w/PLAT/releases/new/",
        {"name": "2027.1", "start_date": "2027-05-01", "release_date": "2027-04-01"},
    )
    assert "This date must not be before the start date." in _html(response)
    assert not Release.objects.filter(is_parking_lot=False).exists()


@pytest.mark.parametrize("bad", ["2027-13-45", "tomorrow", "31/12/2027"])
def test_an_invalid_date_is_refused(contributor, bad):
    response = contributor.post("/w/PLAT/epics/new/", {"name": "Search", "due_date": bad})
    assert "Enter a valid date." in _html(response)
    assert not Epic.objects.exists()


def test_a_status_from_another_workflow_is_refused(contributor, cast):
    feature_status = cast.workspace.statuses.filter(record_type="feature").first()
    response = contributor.post(
        "/w/PLAT/epics/new/", {"name": "Search", "status": feature_status.pk}
    )
    assert "Choose a status of this workspace&#x27;s workflow." in _html(response)
    assert not Epic.objects.exists()


def test_a_status_from_another_workspace_is_refused_on_edit_and_nothing_changes(contributor, cast):
    epic = create_epic(workspace=cast.workspace, name="Search")
    foreign = cast.other_workspace.statuses.filter(record_type="epic").last()
    response = contributor.post(
        f"/w/PLAT/epics/{epic.reference}/edit/", {"name": "Renamed", "status": foreign.pk}
    )
    assert "Choose a status of this workspace&#x27;s workflow." in _html(response)
    epic.refresh_from_db()
    assert (epic.name, epic.status.workspace_id) == ("Search", cast.workspace.pk)
    assert not RecordChange.objects.exists()


def test_an_initiative_the_user_may_not_see_is_refused(contributor, cast):
    hidden = create_initiative(workspace=cast.other_workspace, name="Their plan")
    response = contributor.post("/w/PLAT/epics/new/", {"name": "Search", "initiative": hidden.pk})
    assert "Choose an initiative from a workspace you belong to." in _html(response)
    assert not Epic.objects.exists()


def test_an_initiative_of_another_workspace_the_user_belongs_to_is_accepted(contributor, cast):
    company = make_workspace("Company", "CO", owner=cast.contributor)
    initiative = create_initiative(workspace=company, name="Company goal")
    contributor.post(
        "/w/PLAT/features/new/",
        {"name": "SSO", "release": parking_lot(cast.workspace).pk, "initiative": initiative.pk},
    )
    assert Feature.objects.get().initiative == initiative


def test_a_release_of_another_workspace_is_refused(contributor, cast):
    foreign = make_release(cast.other_workspace, name="Theirs")
    response = contributor.post("/w/PLAT/features/new/", {"name": "SSO", "release": foreign.pk})
    assert "Choose a release of this workspace." in _html(response)
    assert not Feature.objects.exists()


def test_a_required_name_left_empty_is_refused(contributor):
    response = contributor.post("/w/PLAT/initiatives/new/", {"name": ""})
    assert "This field is required." in _html(response)
    assert not Initiative.objects.exists()


def test_an_oversized_name_is_refused(contributor):
    response = contributor.post("/w/PLAT/releases/new/", {"name": "x" * 256})
    assert "Ensure this value has at most 255 characters" in _html(response)
    assert not Release.objects.filter(is_parking_lot=False).exists()


def test_an_oversized_description_is_refused(contributor, cast, settings):
    settings.RICH_TEXT_MAX_LENGTH = 1000
    feature = make_feature(cast.workspace, name="Dark mode")
    response = contributor.post(
        f"/w/PLAT/features/{feature.reference}/edit/",
        {
            "name": "Renamed",
            "release": feature.release_id,
            "status": feature.status_id,
            "description": "<p>" + "x" * 1001 + "</p>",
        },
    )
    assert "Ensure this value has at most 1000 characters" in _html(response)
    feature.refresh_from_db()
    assert (feature.name, feature.description) == ("Dark mode", "")
    assert not RecordChange.objects.exists()


def test_a_bad_edit_saves_no_field_at_all(contributor, cast):
    initiative = create_initiative(workspace=cast.workspace, name="Grow")
    response = contributor.post(
        f"/w/PLAT/initiatives/{initiative.reference}/edit/",
        {
            "name": "Grow more",
            "status": initiative.status_id,
            "start_date": "2027-05-01",
            "due_date": "2027-01-01",
        },
    )
    assert "must not be before" in _html(response)
    initiative.refresh_from_db()
    assert (initiative.name, initiative.start_date) == ("Grow", None)
    assert not RecordChange.objects.exists()


def test_the_form_keeps_what_was_typed_next_to_the_error(contributor):
    response = contributor.post(
        "/w/PLAT/initiatives/new/",
        {"name": "Keep me", "start_date": "2027-05-01", "due_date": "2027-04-01"},
    )
    html = _html(response)
    assert 'value="Keep me"' in html and 'aria-invalid="true"' in html
