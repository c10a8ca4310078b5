from __future__ import annotations

import re

from aharally.records.models import Feature, Initiative
from aharally.workspaces.models import RequiredField
from tests.factories import parking_lot


def _required(workspace, record_type):
    return set(
        RequiredField.objects.filter(workspace=workspace, record_type=record_type).values_list(
            "field_name", flat=True
        )
    )


def test_an_owner_chooses_the_required_fields_of_a_record_type(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/layouts/feature/",
        {"feature-required": ["assignee", "due_date"]},
    )
    assert response.status_code == 302
    assert _required(cast.workspace, "feature") == {"assignee", "due_date"}
    client.post("/w/PLAT/settings/layouts/feature/", {"feature-required": ["estimate"]})
    assert _required(cast.workspace, "feature") == {"estimate"}
    assert _required(cast.workspace, "epic") == set()


def test_a_field_that_cannot_be_required_is_refused(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/layouts/feature/", {"feature-required": ["rank"]})
    assert "can&#x27;t be required" in response.content.decode()
    assert _required(cast.workspace, "feature") == set()


def test_the_layouts_page_shows_the_current_choices(client, cast):
    RequiredField.objects.create(
        workspace=cast.workspace, record_type="initiative", field_name="due_date"
    )
    client.force_login(cast.owner)
    html = client.get("/w/PLAT/settings/layouts/").content.decode()
    checkbox = 'name="initiative-required" value="due_date" id="id_initiative-required_3" checked'
    assert checkbox in html


def test_create_forms_enforce_the_layout_with_a_clear_message(client, cast):
    RequiredField.objects.create(
        workspace=cast.workspace, record_type="feature", field_name="assignee"
    )
    client.force_login(cast.contributor)
    response = client.post(
        "/w/PLAT/features/new/",
        {"name": "Dark mode", "release": parking_lot(cast.workspace).pk},
    )
    assert "required by the workspace&#x27;s custom layout" in response.content.decode()
    assert not Feature.objects.exists()


def test_edit_forms_enforce_the_layout_too(client, cast):
    from aharally.records.services import create_initiative

    initiative = create_initiative(workspace=cast.workspace, name="Grow")
    RequiredField.objects.create(
        workspace=cast.workspace, record_type="initiative", field_name="description"
    )
    client.force_login(cast.contributor)
    response = client.post(
        f"/w/PLAT/initiatives/{initiative.reference}/edit/",
        {"name": "Grow faster", "status": initiative.status_id, "description": ""},
    )
    assert "custom layout" in response.content.decode()
    assert Initiative.objects.get(pk=initiative.pk).name == "Grow"


def test_an_htmx_save_gets_the_layout_section_and_its_message(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/layouts/feature/",
        {"feature-required": ["assignee"]},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('<section id="layout-') == 1 and 'id="layout-feature"' in html
    assert re.search(r'<input[^>]*value="assignee"[^>]*checked>', html)  # saved, shown
    assert '<div id="messages" hx-swap-oob="true">' in html
    assert "Saved the feature layout." in html
    assert "Saved the feature layout." not in client.get("/w/PLAT/settings/").content.decode()


def test_an_htmx_save_of_a_field_that_cannot_be_required_gets_400_with_the_error(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/layouts/feature/", {"feature-required": ["rank"]}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    section = html[html.index('id="layout-feature"') : html.index('id="messages"')]
    assert "can&#x27;t be required" in section
    assert _required(cast.workspace, "feature") == set()
