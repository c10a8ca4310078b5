"""A feature's initiative in a workspace the member does not belong to: kept, and not named."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.records.models import RecordChange
from aharally.records.services import create_initiative
from aharally.workspaces.models import Role
from tests.factories import add_member, make_feature, make_user, make_workspace
from tests.records.test_drawer import HTMX, feature_url, form_data

pytestmark = pytest.mark.django_db

HIDDEN = "a workspace you don"  # the apostrophe is escaped in HTML


@pytest.fixture
def linked(cast):
    """CO-I-1 in Company, linked from a Platform feature by someone who is in both."""
    planner = make_user("planner@example.com")
    company = make_workspace("Company", "CO", owner=planner)
    add_member(cast.workspace, planner, Role.CONTRIBUTOR)
    initiative = create_initiative(workspace=company, name="Grow the enterprise segment")
    feature = make_feature(cast.workspace, name="Single sign-on", initiative=initiative)
    return feature, initiative, planner


def test_saving_a_new_name_keeps_an_initiative_the_contributor_cannot_see(client, cast, linked):
    feature, initiative, _ = linked
    client.force_login(cast.contributor)  # Platform only, not Company
    # What the browser submits: the select shows no option for CO-I-1, so the empty one.
    response = client.post(
        feature_url(feature), form_data(feature, name="Single sign-on (SAML)"), headers=HTMX
    )
    assert response.status_code == 200
    feature.refresh_from_db()
    assert feature.name == "Single sign-on (SAML)"
    assert feature.initiative_id == initiative.pk
    assert not RecordChange.objects.filter(object_id=feature.pk, field="initiative").exists()


def test_a_platform_only_member_is_not_shown_the_initiative_anywhere(client, cast, linked):
    feature, initiative, planner = linked
    # History that names CO-I-1 (written by the planner, who sees Company).
    RecordChange.objects.filter(object_id=feature.pk).delete()
    client.force_login(planner)
    client.post(feature_url(feature), form_data(feature, initiative=""), headers=HTMX)
    client.post(feature_url(feature), form_data(feature, initiative=initiative.pk), headers=HTMX)
    assert "CO-I-1" in client.get(feature_url(feature), headers=HTMX).content.decode()

    for person in (cast.viewer, cast.contributor):
        client.force_login(person)
        pages = [
            client.get(feature_url(feature), headers=HTMX),  # the drawer
            client.get(feature_url(feature)),  # the feature page
        ]
        if person == cast.contributor:
            edit = reverse(
                "records:feature_edit", kwargs={"prefix": "PLAT", "reference": feature.reference}
            )
            pages.append(client.get(edit))
        for page in pages:
            html = page.content.decode()
            assert page.status_code == 200
            assert "CO-I-1" not in html and initiative.name not in html
            assert HIDDEN in html
        initiative_page = client.get(
            reverse("records:initiative", kwargs={"prefix": "CO", "reference": "CO-I-1"})
        )
        assert initiative_page.status_code == 404


def test_a_member_of_both_workspaces_sees_and_changes_the_initiative(client, cast, linked):
    feature, _, planner = linked
    client.force_login(planner)
    html = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert "CO-I-1 Grow the enterprise segment" in html
    client.post(feature_url(feature), form_data(feature, initiative=""), headers=HTMX)
    feature.refresh_from_db()
    assert feature.initiative_id is None
