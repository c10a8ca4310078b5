from __future__ import annotations

from aharally.records.history import record_history
from aharally.records.models import Feature
from aharally.workspaces.models import WorkflowStatus
from tests.factories import make_feature


def _statuses(workspace, record_type="feature"):
    return list(
        WorkflowStatus.objects.filter(workspace=workspace, record_type=record_type).order_by(
            "position", "id"
        )
    )


def _names(workspace, record_type="feature"):
    return [s.name for s in _statuses(workspace, record_type)]


def _add_data(**fields):
    return {f"add-feature-{key}": value for key, value in fields.items()}


def _edit_data(status, **changes):
    data = {"name": status.name, "category": status.category, "color": status.color}
    data.update(changes)
    return {f"status-{status.pk}-{key}": value for key, value in data.items()}


def test_new_workspaces_have_the_default_feature_workflow(cast):
    assert _names(cast.workspace) == [
        "Under consideration",
        "Ready to develop",
        "In development",
        "Ready to ship",
        "Shipped",
        "Will not implement",
    ]


def test_the_workflows_page_shows_every_record_types_workflow(client, cast):
    client.force_login(cast.owner)
    html = client.get("/w/PLAT/settings/workflows/").content.decode()
    for record_type in ("release", "initiative", "epic", "feature", "requirement"):
        assert f'id="workflow-{record_type}"' in html
    assert 'aria-label="Move Shipped up"' in html


def test_an_owner_adds_a_status_at_the_end(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/workflows/feature/add/",
        _add_data(name="Beta", category="in_progress", color="#123ABC"),
    )
    assert response.status_code == 302
    added = _statuses(cast.workspace)[-1]
    assert (added.name, added.category, added.color) == ("Beta", "in_progress", "#123abc")


def test_a_duplicate_status_name_is_refused(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/workflows/feature/add/",
        _add_data(name="shipped", category="done", color="#123abc"),
    )
    assert "already has a status called shipped" in response.content.decode()
    assert len(_statuses(cast.workspace)) == 6


def test_an_invalid_colour_is_refused_with_a_message(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    response = client.post(
        f"/w/PLAT/settings/statuses/{shipped.pk}/", _edit_data(shipped, color="red; x")
    )
    assert "Use a colour like #4a90d9." in response.content.decode()
    assert WorkflowStatus.objects.get(pk=shipped.pk).color == shipped.color


def test_an_unknown_category_is_refused(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    response = client.post(
        f"/w/PLAT/settings/statuses/{shipped.pk}/", _edit_data(shipped, category="finished")
    )
    assert "Select a valid choice" in response.content.decode()
    assert WorkflowStatus.objects.get(pk=shipped.pk).category == "done"


def test_an_owner_renames_and_recolours_a_status_and_records_follow(client, cast):
    shipped = _statuses(cast.workspace)[4]
    feature = make_feature(cast.workspace, status=shipped)
    client.force_login(cast.owner)
    response = client.post(
        f"/w/PLAT/settings/statuses/{shipped.pk}/",
        _edit_data(shipped, name="Released", color="#00aa00"),
    )
    assert response.status_code == 302
    feature = Feature.objects.select_related("status").get(pk=feature.pk)
    assert (feature.status.name, feature.status.color) == ("Released", "#00aa00")


def test_statuses_move_up_and_down_with_buttons(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "up"})
    assert _names(cast.workspace)[3] == "Shipped"
    client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "down"})
    client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "down"})
    assert _names(cast.workspace)[-1] == "Shipped"
    # Moving past the end keeps it there.
    client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "down"})
    assert _names(cast.workspace)[-1] == "Shipped"
    assert [s.position for s in _statuses(cast.workspace)] == [0, 1, 2, 3, 4, 5]


def test_moving_a_status_leaves_other_workflows_alone(client, cast):
    before = _names(cast.workspace, "release")
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "up"})
    assert _names(cast.workspace, "release") == before


def test_an_unused_status_is_deleted(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    assert (
        "No record is in this status"
        in client.get(f"/w/PLAT/settings/statuses/{shipped.pk}/delete/").content.decode()
    )
    response = client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/delete/", {})
    assert response.status_code == 302
    assert "Shipped" not in _names(cast.workspace)


def test_a_used_status_needs_a_replacement_before_it_is_deleted(client, cast):
    shipped = _statuses(cast.workspace)[4]
    make_feature(cast.workspace, status=shipped)
    client.force_login(cast.owner)
    response = client.post(f"/w/PLAT/settings/statuses/{shipped.pk}/delete/", {})
    assert "choose where to move them" in response.content.decode()
    assert "Shipped" in _names(cast.workspace)


def test_deleting_a_used_status_moves_its_records_and_writes_their_history(client, cast):
    statuses = _statuses(cast.workspace)
    shipped, ready = statuses[4], statuses[3]
    features = [make_feature(cast.workspace, status=shipped) for _ in range(3)]
    client.force_login(cast.owner)
    response = client.post(
        f"/w/PLAT/settings/statuses/{shipped.pk}/delete/", {"replacement": ready.pk}
    )
    assert response.status_code == 302
    assert set(Feature.objects.values_list("status", flat=True)) == {ready.pk}
    history = record_history(features[0])
    assert (history[0].field, history[0].old_value, history[0].new_value) == (
        "status",
        "Shipped",
        "Ready to ship",
    )
    assert history[0].who == "owner@example.com"


def test_a_replacement_from_another_workflow_is_refused(client, cast):
    shipped = _statuses(cast.workspace)[4]
    make_feature(cast.workspace, status=shipped)
    release_status = _statuses(cast.workspace, "release")[0]
    client.force_login(cast.owner)
    response = client.post(
        f"/w/PLAT/settings/statuses/{shipped.pk}/delete/", {"replacement": release_status.pk}
    )
    assert "Choose another status of the same workflow" in response.content.decode()
    assert "Shipped" in _names(cast.workspace)


def test_the_last_status_of_a_workflow_cannot_be_deleted(client, cast):
    client.force_login(cast.owner)
    statuses = _statuses(cast.workspace, "release")
    for status in statuses[:-1]:
        url = f"/w/PLAT/settings/statuses/{status.pk}/delete/"
        client.post(url, {"replacement": statuses[-1].pk})
    response = client.post(f"/w/PLAT/settings/statuses/{statuses[-1].pk}/delete/", {})
    assert "needs at least one status" in response.content.decode()
    assert len(_statuses(cast.workspace, "release")) == 1


def test_a_status_of_another_workspace_is_not_found(client, cast):
    foreign = _statuses(cast.other_workspace)[0]
    client.force_login(cast.owner)
    response = client.post(
        f"/w/PLAT/settings/statuses/{foreign.pk}/", _edit_data(foreign, name="Hijacked")
    )
    assert response.status_code == 404
    assert WorkflowStatus.objects.get(pk=foreign.pk).name == foreign.name


def _htmx_post(client, url, data):
    return client.post(url, data, HTTP_HX_REQUEST="true")


def test_an_htmx_move_gets_the_workflow_alone_back(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    response = _htmx_post(
        client, f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {"direction": "up"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('id="workflow-') == 1
    assert 'id="workflow-feature"' in html
    assert html.index("Shipped") < html.index("Ready to ship")


def test_an_htmx_move_without_a_direction_is_refused_in_the_answer(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    response = _htmx_post(client, f"/w/PLAT/settings/statuses/{shipped.pk}/move/", {})
    html = response.content.decode()
    assert response.status_code == 400
    assert '<div id="messages" hx-swap-oob="true">' in html
    assert "Move a status up or down." in html
    # Shown in the answer, so not again on the next page.
    assert "Move a status up or down." not in client.get("/w/PLAT/settings/").content.decode()


def test_an_htmx_add_gets_the_workflow_and_its_message(client, cast):
    client.force_login(cast.owner)
    response = _htmx_post(
        client,
        "/w/PLAT/settings/workflows/feature/add/",
        _add_data(name="Beta", category="in_progress", color="#123abc"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="workflow-feature"' in html and 'id="workflow-release"' not in html
    assert 'aria-label="Move Beta up"' in html
    assert '<div id="messages" hx-swap-oob="true">' in html
    assert "Added the status Beta." in html
    assert "Added the status Beta." not in client.get("/w/PLAT/settings/").content.decode()


def test_an_htmx_add_without_a_name_gets_400_with_the_error_in_the_workflow(client, cast):
    client.force_login(cast.owner)
    response = _htmx_post(
        client,
        "/w/PLAT/settings/workflows/feature/add/",
        _add_data(name="", category="in_progress", color="#123abc"),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    section = html[html.index('id="workflow-feature"') : html.index('id="messages"')]
    assert "This field is required." in section
    assert _names(cast.workspace)[-1] == "Will not implement"


def test_an_htmx_edit_with_a_bad_colour_gets_400_with_the_error_by_the_status(client, cast):
    client.force_login(cast.owner)
    shipped = _statuses(cast.workspace)[4]
    response = _htmx_post(
        client,
        f"/w/PLAT/settings/statuses/{shipped.pk}/",
        _edit_data(shipped, color="blue"),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    row = html[html.index(f'id="status-{shipped.pk}"') :]
    assert 'class="field-error" role="alert"' in row.split("</tr>")[0]
