from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings
from django.urls import reverse

from aharally.records.models import Feature, RecordChange, Requirement
from aharally.records.services import create_initiative
from aharally.workspaces.models import RecordType, RequiredField, WorkflowStatus
from tests.factories import make_feature, make_release, make_requirement, parking_lot

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/w/PLAT/features/board/"}


def feature_url(feature, prefix=None):
    return reverse(
        "records:feature",
        kwargs={"prefix": prefix or feature.workspace.prefix, "reference": feature.reference},
    )


def flow(workspace, record_type=RecordType.FEATURE):
    return list(WorkflowStatus.objects.filter(workspace=workspace, record_type=record_type))


def form_data(feature, **overrides):
    """What the drawer's form posts for this feature, with some fields changed."""
    data = {
        "name": feature.name,
        "status": feature.status_id,
        "release": feature.release_id,
        "epic": "",
        "initiative": "",
        "assignee": feature.assignee_id or "",
        "start_date": "",
        "due_date": "",
        "estimate": "",
        "description": feature.description,
    }
    data.update(overrides)
    return data


@pytest.fixture
def feature(cast):
    return make_feature(cast.workspace, name="Single sign-on")


def test_an_htmx_request_gets_the_drawer_partial(client, cast, feature):
    make_requirement(feature, name="SAML login")
    client.force_login(cast.viewer)
    response = client.get(feature_url(feature), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Single sign-on" in html
    assert "SAML login" in html


def test_a_plain_request_gets_the_full_page(client, cast, feature):
    client.force_login(cast.viewer)
    response = client.get(feature_url(feature))
    html = response.content.decode()
    assert "<html" in html
    assert 'class="feature-panel"' in html


def test_viewers_get_the_feature_without_edit_controls(client, cast, feature):
    for who in (cast.viewer, cast.reviewer):
        client.force_login(who)
        html = client.get(feature_url(feature), headers=HTMX).content.decode()
        assert "Under consideration" in html
        assert "<form" not in html


def test_the_references_case_does_not_matter(client, cast, feature):
    client.force_login(cast.viewer)
    url = feature_url(feature).replace("PLAT-1", "plat-1")
    assert client.get(url).status_code == 200


def test_an_outsider_gets_404_for_a_feature_by_reference(client, cast, feature):
    client.force_login(cast.outsider)
    assert client.get(feature_url(feature)).status_code == 404
    assert client.get(feature_url(feature), headers=HTMX).status_code == 404
    # Through their own workspace's URL the reference names nothing either.
    assert client.get(feature_url(feature, prefix="ELSE")).status_code == 404
    assert client.post(feature_url(feature, prefix="ELSE"), form_data(feature)).status_code == 404


def test_a_member_gets_404_for_a_reference_of_another_workspace(client, cast):
    foreign = make_feature(cast.other_workspace, name="Foreign")
    client.force_login(cast.owner)
    url = reverse("records:feature", kwargs={"prefix": "PLAT", "reference": foreign.reference})
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 302), ("contributor", 302), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_who_may_edit_a_feature(client, cast, feature, role, status):
    client.force_login(getattr(cast, role))
    response = client.post(feature_url(feature), form_data(feature, name="Renamed"))
    assert response.status_code == status
    expected = "Renamed" if status == 302 else "Single sign-on"
    assert Feature.objects.get(pk=feature.pk).name == expected


def test_an_edit_in_the_drawer_saves_keeps_history_and_updates_the_card(client, cast, feature):
    shipped = flow(cast.workspace)[4]
    client.force_login(cast.contributor)
    response = client.post(
        feature_url(feature), form_data(feature, status=shipped.pk), headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert Feature.objects.get(pk=feature.pk).status == shipped
    change = RecordChange.objects.get(object_id=feature.pk, field="status")
    assert (change.old_value, change.new_value) == ("Under consideration", "Shipped")
    # The board's card is swapped out of band, in the new colour.
    card = re.search(rf'<article [^>]*id="card-{feature.pk}"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in card
    assert f'data-status-color="{shipped.color}"' in card
    assert "HX-Trigger" not in response.headers


def test_an_edit_on_the_features_own_page_sends_no_card_it_has_nowhere_to_put(
    client, cast, feature
):
    client.force_login(cast.contributor)
    page = f"http://testserver{feature_url(feature)}"
    response = client.post(
        feature_url(feature),
        form_data(feature, name="Renamed"),
        headers={"HX-Request": "true", "HX-Current-URL": page},
    )
    assert response.status_code == 200
    assert "Renamed" in response.content.decode()
    assert f'id="card-{feature.pk}"' not in response.content.decode()


def test_changing_the_release_in_the_drawer_asks_the_board_to_reload(client, cast, feature):
    release = make_release(cast.workspace, name="Release 2")
    client.force_login(cast.contributor)
    response = client.post(
        feature_url(feature), form_data(feature, release=release.pk), headers=HTMX
    )
    assert response.status_code == 200
    assert "board:refresh" in json.loads(response.headers["HX-Trigger"])


def test_a_feature_moved_to_another_release_in_the_drawer_goes_to_the_end(client, cast):
    release = make_release(cast.workspace, name="Release 2")
    already = [make_feature(cast.workspace, release=release, rank=r) for r in (5.0, 9.0)]
    feature = make_feature(cast.workspace, name="Newcomer", rank=1.0)
    client.force_login(cast.contributor)
    client.post(feature_url(feature), form_data(feature, release=release.pk, name="Moved"))
    column = list(Feature.objects.filter(release=release).order_by("rank", "id"))
    assert column == [*already, feature]
    assert column[-1].name == "Moved"
    assert set(
        RecordChange.objects.filter(object_id=feature.pk).values_list("field", flat=True)
    ) == {"name", "release"}


def assert_refused(client, feature, data, field, message):
    before = Feature.objects.filter(pk=feature.pk).values().get()
    history = RecordChange.objects.count()
    response = client.post(feature_url(feature), data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in html
    assert message in html, html
    assert f'id="id_{field}-error"' in html or field == "description"
    assert Feature.objects.filter(pk=feature.pk).values().get() == before
    assert RecordChange.objects.count() == history


def test_an_impossible_date_is_refused_in_place(client, cast, feature):
    client.force_login(cast.contributor)
    data = form_data(feature, name="Changed too", start_date="2026-02-30")
    assert_refused(client, feature, data, "start_date", "Enter a valid date.")


def test_a_due_date_before_the_start_is_refused_in_place(client, cast, feature):
    client.force_login(cast.contributor)
    data = form_data(feature, name="Changed too", start_date="2026-05-02", due_date="2026-05-01")
    assert_refused(
        client, feature, data, "due_date", "This date must not be before the start date."
    )


def test_a_status_of_another_workflow_is_refused_in_place(client, cast, feature):
    client.force_login(cast.contributor)
    epic_status = flow(cast.workspace, RecordType.INITIATIVE)[1]
    data = form_data(feature, name="Changed too", status=epic_status.pk)
    assert_refused(client, feature, data, "status", "Choose a status of this workspace&#x27;s")


def test_a_field_required_by_the_custom_layout_is_refused_in_place(client, cast, feature):
    RequiredField.objects.create(
        workspace=cast.workspace, record_type=RecordType.FEATURE, field_name="estimate"
    )
    client.force_login(cast.contributor)
    data = form_data(feature, name="Changed too")
    assert_refused(client, feature, data, "estimate", "required by the workspace&#x27;s custom")


def test_a_release_of_another_workspace_is_refused_in_place(client, cast, feature):
    client.force_login(cast.contributor)
    data = form_data(feature, name="Changed too", release=parking_lot(cast.other_workspace).pk)
    assert_refused(client, feature, data, "release", "Choose a release of this workspace.")


def test_an_initiative_the_user_may_not_see_is_refused_in_place(client, cast, feature):
    hidden = create_initiative(workspace=cast.other_workspace, name="Hidden")
    client.force_login(cast.contributor)
    data = form_data(feature, name="Changed too", initiative=hidden.pk)
    assert_refused(client, feature, data, "initiative", "Choose an initiative from a workspace")


@override_settings(RICH_TEXT_MAX_LENGTH=100)
def test_oversized_text_is_refused_in_place(client, cast, feature):
    client.force_login(cast.contributor)
    data = form_data(feature, name="x" * 300)
    assert_refused(client, feature, data, "name", "at most 255 characters")
    data = form_data(feature, name="Changed too", description="<p>" + "y" * 200 + "</p>")
    assert_refused(client, feature, data, "description", "at most 100 characters")


def test_a_plain_post_with_errors_shows_the_full_page_with_the_errors(client, cast, feature):
    client.force_login(cast.contributor)
    response = client.post(feature_url(feature), form_data(feature, name=""))
    assert response.status_code == 422
    assert "<html" in response.content.decode()
    assert "This field is required." in response.content.decode()


# Requirements in the drawer.


def add_url(feature):
    return reverse(
        "records:add_requirement",
        kwargs={"prefix": feature.workspace.prefix, "reference": feature.reference},
    )


def requirement_url(requirement):
    feature = requirement.feature
    return reverse(
        "records:requirement",
        kwargs={
            "prefix": feature.workspace.prefix,
            "reference": feature.reference,
            "number": requirement.number,
        },
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("contributor", 200), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_who_may_add_a_requirement(client, cast, feature, role, status):
    client.force_login(getattr(cast, role))
    response = client.post(add_url(feature), {"new-name": "SAML login"}, headers=HTMX)
    assert response.status_code == status
    assert Requirement.objects.filter(name="SAML login").exists() == (status == 200)


def test_an_added_requirement_appears_in_the_drawer(client, cast, feature):
    client.force_login(cast.contributor)
    response = client.post(add_url(feature), {"new-name": "SAML login"}, headers=HTMX)
    assert "PLAT-1-1" in response.content.decode()
    requirement = Requirement.objects.get(feature=feature)
    assert requirement.status.name == "Under consideration"
    assert requirement.created_by == cast.contributor


def test_a_requirement_with_bad_input_is_not_added(client, cast, feature):
    client.force_login(cast.contributor)
    foreign_status = flow(cast.other_workspace, RecordType.REQUIREMENT)[0]
    response = client.post(
        add_url(feature),
        {"new-name": "Half", "new-status": foreign_status.pk, "new-due_date": "tomorrow"},
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "The requirement was not added" in html
    assert "Enter a valid date." in html
    assert not Requirement.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("contributor", 200), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_who_may_edit_a_requirement(client, cast, feature, role, status):
    requirement = make_requirement(feature, name="Before")
    client.force_login(getattr(cast, role))
    prefix = f"req-{requirement.pk}"
    response = client.post(requirement_url(requirement), {f"{prefix}-name": "After"}, headers=HTMX)
    assert response.status_code == status
    expected = "After" if status == 200 else "Before"
    assert Requirement.objects.get(pk=requirement.pk).name == expected


def test_a_requirement_edit_form_comes_inline_and_saves_with_history(client, cast, feature):
    requirement = make_requirement(feature, name="Before")
    client.force_login(cast.contributor)
    form = client.get(requirement_url(requirement) + "?edit", headers=HTMX).content.decode()
    assert f'name="req-{requirement.pk}-name"' in form
    response = client.post(
        requirement_url(requirement),
        {f"req-{requirement.pk}-name": "After", f"req-{requirement.pk}-estimate": "3"},
        headers=HTMX,
    )
    assert "After" in response.content.decode()
    fields = set(
        RecordChange.objects.filter(object_id=requirement.pk).values_list("field", flat=True)
    )
    assert {"name", "estimate"} <= fields


def test_a_requirement_edit_with_an_oversized_name_saves_nothing(client, cast, feature):
    requirement = make_requirement(feature, name="Before")
    client.force_login(cast.contributor)
    prefix = f"req-{requirement.pk}"
    response = client.post(
        requirement_url(requirement),
        {f"{prefix}-name": "z" * 256, f"{prefix}-estimate": "2"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "at most 255 characters" in response.content.decode()
    requirement.refresh_from_db()
    assert (requirement.name, requirement.estimate) == ("Before", None)


def test_an_outsider_gets_404_for_a_requirement_by_number(client, cast, feature):
    requirement = make_requirement(feature)
    client.force_login(cast.outsider)
    assert client.get(requirement_url(requirement), headers=HTMX).status_code == 404
    other_feature = make_feature(cast.other_workspace)
    url = reverse(
        "records:requirement",
        kwargs={"prefix": "ELSE", "reference": other_feature.reference, "number": 1},
    )
    assert client.get(url, headers=HTMX).status_code == 404


def test_the_drawer_shows_who_changed_what(client, cast, feature):
    client.force_login(cast.contributor)
    client.post(feature_url(feature), form_data(feature, name="Federated login"))
    html = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert "History" in html
    assert "Single sign-on" in html  # the old value
    assert "Federated login" in html


def test_adding_a_requirement_works_as_a_plain_post_too(client, cast, feature):
    client.force_login(cast.contributor)
    response = client.post(add_url(feature), {"new-name": "Without JavaScript"})
    assert response.status_code == 302
    assert response["Location"] == feature_url(feature)
    assert Requirement.objects.get(feature=feature).name == "Without JavaScript"


def test_a_requirement_number_too_large_for_the_database_is_a_404(client, cast, feature):
    client.force_login(cast.contributor)
    url = reverse(
        "records:requirement",
        kwargs={"prefix": "PLAT", "reference": feature.reference, "number": 2**70},
    )
    assert client.get(url, headers=HTMX).status_code == 404
    assert client.post(url, {}, headers=HTMX).status_code == 404


def test_a_requirement_can_be_edited_without_javascript(client, cast, feature):
    requirement = make_requirement(feature, name="Before")
    prefix = f"req-{requirement.pk}"
    client.force_login(cast.contributor)
    page = client.get(requirement_url(requirement) + "?edit")
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert f'name="{prefix}-name"' in page.content.decode()
    refused = client.post(requirement_url(requirement), {f"{prefix}-name": ""})
    assert refused.status_code == 422
    assert "This field is required." in refused.content.decode()
    saved = client.post(requirement_url(requirement), {f"{prefix}-name": "After"})
    assert saved.status_code == 302
    assert Requirement.objects.get(pk=requirement.pk).name == "After"
