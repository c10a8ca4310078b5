from __future__ import annotations

import json

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.urls import reverse

from aharally.records import bulk
from aharally.records.bulk import BulkAction, BulkActionForm, register_bulk_action
from aharally.records.models import Feature, RecordChange
from aharally.workspaces.models import Capability, RecordType, WorkflowStatus
from tests.factories import make_feature, make_release, parking_lot

HTMX = {"HX-Request": "true"}


def bulk_url(workspace):
    return reverse("records:bulk_action", kwargs={"prefix": workspace.prefix})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def board(cast):
    """Release 1 and Release 2; three features in the parking lot, one in Release 1."""
    release_1 = make_release(cast.workspace, name="Release 1")
    release_2 = make_release(cast.workspace, name="Release 2")
    lot = [make_feature(cast.workspace, name=f"Lot {i}") for i in range(3)]
    staying = make_feature(cast.workspace, release=release_1, name="Already there")
    return release_1, release_2, lot, staying


def move_data(features, release):
    return {"action": "move", "ids": [f.pk for f in features], "move-release": release.pk}


def test_moving_three_features_reports_it_and_keeps_their_order(client, cast, board):
    release_1, _release_2, lot, staying = board
    client.force_login(cast.contributor)
    response = client.post(bulk_url(cast.workspace), move_data(lot, release_1))
    assert response.status_code == 302
    assert messages_of(response) == ["Moved 3 features to Release 1"]
    in_release = Feature.objects.filter(release=release_1).order_by("rank", "id")
    assert [f.name for f in in_release] == ["Already there", "Lot 0", "Lot 1", "Lot 2"]
    history = RecordChange.objects.filter(field="release", changed_by=cast.contributor)
    assert history.count() == 3
    assert staying.pk not in history.values_list("object_id", flat=True)


def test_an_htmx_bulk_action_answers_with_the_report_and_refreshes_the_board(client, cast, board):
    release_1, _release_2, lot, _staying = board
    client.force_login(cast.contributor)
    response = client.post(bulk_url(cast.workspace), move_data(lot[:1], release_1), headers=HTMX)
    assert response.status_code == 200
    assert "Moved 1 feature to Release 1" in response.content.decode()
    assert "board:refresh" in json.loads(response.headers["HX-Trigger"])


def test_setting_the_status_of_many_features_keeps_each_ones_history(client, cast, board):
    _release_1, _release_2, lot, _staying = board
    shipped = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Shipped"
    )
    client.force_login(cast.owner)
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "status", "ids": [f.pk for f in lot], "status-status": shipped.pk},
    )
    assert messages_of(response) == ["Set 3 features to Shipped"]
    assert set(Feature.objects.filter(status=shipped).values_list("name", flat=True)) == {
        "Lot 0",
        "Lot 1",
        "Lot 2",
    }
    assert RecordChange.objects.filter(field="status", new_value="Shipped").count() == 3


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 302), ("contributor", 302), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_who_may_use_bulk_actions(client, cast, board, role, status):
    release_1, _release_2, lot, _staying = board
    client.force_login(getattr(cast, role))
    response = client.post(bulk_url(cast.workspace), move_data(lot, release_1))
    assert response.status_code == status
    moved = Feature.objects.filter(release=release_1).count()
    assert moved == (4 if status == 302 else 1)


def assert_nothing_changed(cast, board):
    release_1, _release_2, lot, staying = board
    assert set(Feature.objects.filter(workspace=cast.workspace, release=release_1)) == {staying}
    lot_now = Feature.objects.filter(pk__in=[f.pk for f in lot])
    assert {f.release for f in lot_now} == {parking_lot(cast.workspace)}
    assert not RecordChange.objects.exists()


def post_refused(client, cast, data) -> str:
    client.force_login(cast.contributor)
    response = client.post(bulk_url(cast.workspace), data)
    assert response.status_code == 302
    [message] = messages_of(response)
    return message


def test_an_unknown_id_refuses_the_whole_action(client, cast, board):
    release_1, _release_2, lot, _staying = board
    data = move_data(lot, release_1)
    data["ids"].append(987654)
    message = post_refused(client, cast, data)
    assert message == (
        "1 feature of the selection no longer exists or belongs to another workspace; "
        "nothing was changed. Reload the board and try again."
    )
    assert_nothing_changed(cast, board)


def test_another_workspaces_feature_refuses_the_whole_action(client, cast, board):
    release_1, _release_2, lot, _staying = board
    foreign = make_feature(cast.other_workspace, name="Foreign")
    message = post_refused(client, cast, move_data([*lot, foreign], release_1))
    assert "nothing was changed" in message
    assert_nothing_changed(cast, board)
    assert Feature.objects.get(pk=foreign.pk).release.workspace == cast.other_workspace


def test_a_move_to_another_workspaces_release_is_refused(client, cast, board):
    _release_1, _release_2, lot, _staying = board
    message = post_refused(client, cast, move_data(lot, parking_lot(cast.other_workspace)))
    assert message == "Move to release: Choose a release of this workspace."
    assert_nothing_changed(cast, board)


def test_a_status_of_another_workflow_is_refused(client, cast, board):
    _release_1, _release_2, lot, _staying = board
    epic_status = WorkflowStatus.objects.filter(
        workspace=cast.workspace, record_type=RecordType.INITIATIVE
    ).first()
    data = {"action": "status", "ids": [f.pk for f in lot], "status-status": epic_status.pk}
    message = post_refused(client, cast, data)
    assert message == "Set status: Choose a status of this workspace's workflow."
    assert_nothing_changed(cast, board)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"action": "move", "ids": []}, "Select at least one feature."),
        ({"action": "move", "ids": ["abc"]}, "'abc' is not a feature id; nothing was changed."),
        ({"action": "move", "ids": ["-4"]}, "'-4' is not a feature id; nothing was changed."),
        ({"action": "explode", "ids": ["1"]}, "Choose an action for the selected features."),
    ],
)
def test_nonsense_selections_get_a_clear_message(client, cast, board, data, expected):
    release_1 = board[0]
    data = {**data, "move-release": release_1.pk}
    assert post_refused(client, cast, data) == expected
    assert_nothing_changed(cast, board)


def test_a_failing_handler_leaves_nothing_half_done(client, cast, board, monkeypatch):
    _release_1, _release_2, lot, _staying = board
    calls = []
    real_update = bulk.update_records

    def flaky(changes, **kwargs):
        real_update(changes, **kwargs)  # every feature written…
        calls.append(len(changes))
        raise RuntimeError("database went away")  # … then the action fails

    monkeypatch.setattr(bulk, "update_records", flaky)
    shipped = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Shipped"
    )
    client.force_login(cast.contributor)
    client.raise_request_exception = False
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "status", "ids": [f.pk for f in lot], "status-status": shipped.pk},
    )
    assert response.status_code == 500
    assert calls == [3]
    assert not Feature.objects.filter(status=shipped).exists()
    assert not RecordChange.objects.exists()


def test_the_bar_offers_every_registered_action_and_runs_a_new_one(client, cast, board):
    """Later issues add actions such as "Send to Rally" through the registry."""
    _release_1, _release_2, lot, _staying = board

    class RenameForm(BulkActionForm):
        suffix = forms.CharField(max_length=10)

    def rename(*, features, workspace, user, suffix):
        for feature in features:
            Feature.objects.filter(pk=feature.pk).update(name=f"{feature.name} {suffix}")
        return f"Renamed {len(features)} features"

    action = BulkAction(name="rename", label="Add a suffix", form_class=RenameForm, handler=rename)
    register_bulk_action(action)
    try:
        client.force_login(cast.contributor)
        html = client.get(
            reverse("records:board", kwargs={"prefix": cast.workspace.prefix})
        ).content.decode()
        assert '<option value="rename">Add a suffix</option>' in html
        assert 'name="rename-suffix"' in html
        response = client.post(
            bulk_url(cast.workspace),
            {"action": "rename", "ids": [lot[0].pk], "rename-suffix": "(v2)"},
        )
        assert messages_of(response) == ["Renamed 1 features"]
        assert Feature.objects.get(pk=lot[0].pk).name == "Lot 0 (v2)"
    finally:
        bulk._REGISTRY.pop("rename")


def test_an_action_needing_another_capability_is_refused_to_those_without_it(client, cast, board):
    _release_1, _release_2, lot, _staying = board
    action = BulkAction(
        name="configure-thing",
        label="Owners only",
        form_class=BulkActionForm,
        handler=lambda **kwargs: "done",
        capability=Capability.CONFIGURE,
    )
    register_bulk_action(action)
    try:
        client.force_login(cast.contributor)
        data = {"action": "configure-thing", "ids": [lot[0].pk]}
        assert client.post(bulk_url(cast.workspace), data).status_code == 403
        client.force_login(cast.owner)
        response = client.post(bulk_url(cast.workspace), data)
        assert messages_of(response) == ["done"]
    finally:
        bulk._REGISTRY.pop("configure-thing")


def test_an_id_too_large_for_the_database_gets_a_clear_message(client, cast, board):
    huge = str(2**70)
    data = {"action": "move", "ids": [huge], "move-release": board[0].pk}
    assert post_refused(client, cast, data) == f"'{huge}' is not a feature id; nothing was changed."
    assert_nothing_changed(cast, board)


def test_a_selection_of_more_than_a_thousand_fields_reaches_the_bulk_action(client, cast, board):
    """Django's default of 1,000 form fields would answer a bare 400 before the action."""
    release_1, _release_2, lot, _staying = board
    client.force_login(cast.contributor)
    ids = [f.pk for f in lot] + list(range(10_000_000, 10_001_200))
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "move", "ids": ids, "move-release": release_1.pk},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "1200 features of the selection no longer exist" in response.content.decode()


def test_a_selection_posted_as_one_field_says_the_limit_of_5000(client, cast, board):
    release_1, _release_2, _lot, _staying = board
    client.force_login(cast.contributor)
    ids = ",".join(str(pk) for pk in range(1, 6_002))
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "move", "ids": ids, "move-release": release_1.pk},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert (
        "Select at most 5,000 features at a time (6,001 are selected); nothing was changed."
        in response.content.decode()
    )
    assert_nothing_changed(cast, board)


def test_a_selection_posted_as_one_comma_separated_field_is_applied(client, cast, board):
    release_1, _release_2, lot, _staying = board
    client.force_login(cast.contributor)
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "move", "ids": ",".join(str(f.pk) for f in lot), "move-release": release_1.pk},
    )
    assert messages_of(response) == ["Moved 3 features to Release 1"]


def _move_queries(client, cast, count: int, target) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    features = [make_feature(cast.workspace, name=f"Many {count}.{n}") for n in range(count)]
    with CaptureQueriesContext(connection) as queries:
        response = client.post(bulk_url(cast.workspace), move_data(features, target))
    assert messages_of(response)[-1] == f"Moved {count} features to {target.name}"
    return len(queries)


def test_moving_thirty_features_costs_the_queries_of_moving_three(client, cast, board):
    """A move of a thousand cards was a few seconds of per-card statements: the updates,
    history rows and the sync's look-ups are now a few statements for all of them."""
    release_1, release_2, _lot, _staying = board
    client.force_login(cast.contributor)
    _move_queries(client, cast, 2, release_2)  # warm: the session, the content types
    assert _move_queries(client, cast, 30, release_1) == _move_queries(client, cast, 3, release_2)


def _integration_sending(cast, field: str, rally_field: str):
    """An integration of the workspace that sends a feature's `field` to Rally."""
    from aharally.integrations.models import FieldMapping
    from tests.integrations.builders import configured_integration

    integration = configured_integration(cast.workspace)
    FieldMapping.objects.create(
        record_mapping=integration.record_mappings.get(record_type=RecordType.FEATURE),
        field=field,
        rally_field=rally_field,
    )
    return integration


def test_a_bulk_change_queues_an_update_for_each_linked_feature_and_retries_failed_creates(
    client, cast, board
):
    """The sync hears the features of a bulk action together: the linked ones get their
    change queued, a refused create is tried again, the others queue nothing."""
    from aharally.sync.models import OutboxItem, OutboxKind, OutboxState
    from tests.factories import make_link

    _release_1, _release_2, lot, staying = board
    integration = _integration_sending(cast, "status", "State")
    make_link(integration, lot[0], rally_oid=9001)
    make_link(integration, lot[2], rally_oid=9002)
    refused = OutboxItem.objects.create(
        integration=integration,
        record_type=RecordType.FEATURE,
        record_id=lot[1].pk,
        kind=OutboxKind.CREATE,
        state=OutboxState.FAILED,
        error_message="Rally refused it",
    )
    shipped = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Shipped"
    )
    client.force_login(cast.contributor)
    response = client.post(
        bulk_url(cast.workspace),
        {"action": "status", "ids": [f.pk for f in [*lot, staying]], "status-status": shipped.pk},
    )
    assert messages_of(response) == ["Set 4 features to Shipped"]
    updates = OutboxItem.objects.filter(kind=OutboxKind.UPDATE)
    assert sorted(updates.values_list("record_id", flat=True)) == sorted([lot[0].pk, lot[2].pk])
    assert {tuple(row.fields) for row in updates} == {("status",)}
    refused.refresh_from_db()
    assert refused.state == OutboxState.QUEUED and refused.error_message == ""


def _linked_status_queries(client, cast, integration, count: int, status) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_link

    features = [make_feature(cast.workspace, name=f"Linked {count}.{n}") for n in range(count)]
    for feature in features:
        make_link(integration, feature, rally_oid=100_000 + feature.pk)
    data = {"action": "status", "ids": [f.pk for f in features], "status-status": status.pk}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(bulk_url(cast.workspace), data)
    assert messages_of(response)[-1] == f"Set {count} features to {status.name}"
    return len(queries)


def test_setting_the_status_of_thirty_linked_features_costs_the_queries_of_three(
    client, cast, board
):
    """Each linked feature's change becomes its update row, all of them in one INSERT (and
    open rows merged into in one UPDATE), not a few statements a card."""
    from aharally.sync.models import OutboxItem, OutboxKind, OutboxState

    integration = _integration_sending(cast, "status", "State")
    statuses = WorkflowStatus.objects.filter(
        workspace=cast.workspace, record_type=RecordType.FEATURE
    )
    shipped, started = statuses.get(name="Shipped"), statuses.get(name="In development")
    client.force_login(cast.contributor)
    _linked_status_queries(client, cast, integration, 2, started)  # warm
    thirty = _linked_status_queries(client, cast, integration, 30, shipped)
    assert thirty == _linked_status_queries(client, cast, integration, 3, started)
    rows = OutboxItem.objects.filter(kind=OutboxKind.UPDATE, integration=integration)
    assert rows.count() == 35
    assert {(tuple(r.fields), r.state, r.created_by_id) for r in rows} == {
        (("status",), OutboxState.QUEUED, cast.contributor.pk)
    }


def test_a_bulk_change_joins_the_open_rows_of_linked_features_as_one_edit_would(
    client, cast, board
):
    """A failed update is tried again with the new field joined to it; one left waiting for
    approval goes now that the integration sends without it, the field joined; a feature
    with no row gets a new one."""
    from aharally.sync.models import OutboxItem, OutboxKind, OutboxState
    from tests.factories import make_link

    _release_1, release_2, lot, _staying = board
    integration = _integration_sending(cast, "release", "Release")
    for n, feature in enumerate(lot):
        make_link(integration, feature, rally_oid=9100 + n)

    def update_row(feature, **fields):
        return OutboxItem.objects.create(
            integration=integration,
            record_type=RecordType.FEATURE,
            record_id=feature.pk,
            kind=OutboxKind.UPDATE,
            **fields,
        )

    failed = update_row(
        lot[0],
        fields=["name"],
        state=OutboxState.FAILED,
        attempts=5,
        error_kind="validation",
        error_message="Rally refused it",
    )
    waiting = update_row(lot[1], fields=["status"], state=OutboxState.AWAITING_APPROVAL)
    client.force_login(cast.contributor)
    response = client.post(bulk_url(cast.workspace), move_data(lot, release_2))
    assert messages_of(response) == ["Moved 3 features to Release 2"]
    failed.refresh_from_db()
    assert (failed.state, failed.fields, failed.attempts, failed.error_message) == (
        OutboxState.QUEUED,
        ["name", "release"],
        0,
        "",
    )
    assert failed.updated_at > failed.created_at
    waiting.refresh_from_db()
    assert (waiting.state, waiting.fields) == (OutboxState.QUEUED, ["release", "status"])
    (new,) = OutboxItem.objects.filter(record_id=lot[2].pk)
    assert (new.kind, new.state, new.fields) == (OutboxKind.UPDATE, OutboxState.QUEUED, ["release"])
    assert OutboxItem.objects.count() == 3
