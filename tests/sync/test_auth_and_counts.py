"""A refused credential pauses the outbox; what a send costs in requests and queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import AuthMethod, Direction, FieldMapping, Integration
from aharally.integrations.wizard import services
from aharally.sync.models import ErrorKind, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_link
from tests.sync.support import connect, rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)


def requests_made(sandbox, work) -> int:
    """How many WSAPI requests the sandbox answered while `work()` ran."""
    sandbox.admin("POST", "/sandbox-admin/stats/reset")
    work()
    return sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]


def test_a_refused_credential_costs_one_request_pauses_the_outbox_and_resumes_after_reauthorizing(
    cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"{word} {n}") for n in range(20)]
    # As if the key was revoked in Rally: Rally no longer knows it.
    integration.api_key = "_RevokedKey" + "0" * 30
    integration.save()
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")

    spent = requests_made(rally_sandbox, lambda: drain_outbox(integration.pk))

    assert spent == 1
    integration.refresh_from_db()
    assert integration.needs_reauthorization
    rows = OutboxItem.objects.filter(record_type=RecordType.FEATURE)
    assert rows.count() == 20
    assert set(rows.values_list("state", "error_kind")) == {(OutboxState.QUEUED, ErrorKind.AUTH)}
    assert (
        IntegrationLogEntry.objects.filter(
            integration=integration, message__contains="refused the credential"
        ).count()
        == 1
    )
    assert drain_outbox(integration.pk)["reason"] == "needs re-authorization"

    services.store_authorization(
        integration=integration,
        authorization=services.Authorization(
            auth_method=AuthMethod.API_KEY,
            rally_user_name="pm@example.com",
            api_key=rally_sandbox.api_key,
        ),
        user=cast.owner,
    )
    drain_outbox(integration.pk)

    assert Link.objects.filter(record_type=RecordType.FEATURE).count() == 20
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 20


def test_each_created_object_costs_exactly_one_request(cast, rally_sandbox):
    from aharally.sync.enqueue import PLACE_IN_RANK
    from tests.sync.support import run_queued

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)

    def send(count: int) -> tuple[int, int, int]:
        features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(count)]
        start_job(records=features, integration=integration, user=cast.contributor, label="x")
        made = requests_made(rally_sandbox, lambda: drain_outbox(integration.pk))
        placed = []
        placing = requests_made(rally_sandbox, lambda: placed.extend(run_queued(PLACE_IN_RANK)))
        (result,) = placed
        return made, placing, result["moved"]

    (small, small_placing, small_moves), (large, large_placing, large_moves) = send(2), send(7)
    # Look-ups (the type, its attributes and states) are paid by the first drain, then kept
    # across drains; every object is one create.
    assert small == 3 + 2
    assert large == 7
    # Then, in a task of its own, one read of where Rally ranked the parking lot's features
    # (a request a hundred), and a move for each that a dozen concurrent creates left out of
    # the board's order.
    assert (small_placing, large_placing) == (1 + small_moves, 1 + large_moves)
    assert large_moves < 7


def test_an_update_is_a_read_and_a_write_with_only_the_changed_fields(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace, name=f"Before {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    from aharally.records.services import update_record

    update_record(feature, changes={"name": f"After {token()}"}, user=cast.contributor)
    spent = requests_made(rally_sandbox, lambda: drain_outbox(integration.pk))
    # The type's attributes are kept from the create's drain; Rally has no conditional write,
    # so the name (two-way) is read first and sent only if Rally kept the agreed one.
    assert spent == 2
    assert OutboxItem.objects.filter(state=OutboxState.SENT).count() == 2


def test_an_update_of_fields_mapped_to_rally_only_is_one_request(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    FieldMapping.objects.filter(record_mapping__integration=integration, field="name").update(
        direction=Direction.TO_RALLY
    )
    feature = make_feature(cast.workspace, name=f"Before {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    from aharally.records.services import update_record

    update_record(feature, changes={"name": f"After {token()}"}, user=cast.contributor)
    spent = requests_made(rally_sandbox, lambda: drain_outbox(integration.pk))
    # Rally's edits of such a field are never kept, so there is nothing to read first.
    assert spent == 1


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_queue_board_and_report_keep_a_constant_query_count(client, cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode="approve")
    client.force_login(cast.owner)
    board = reverse("records:board", kwargs={"prefix": "PLAT"})
    queue = reverse("sync:integration_updates")
    report = reverse("integrations:manage", kwargs={"prefix": "PLAT"})

    def grow(count: int) -> None:
        for n in range(count):
            feature = make_feature(cast.workspace, name=f"Grow {n}")
            outbox.request_send(record=feature, integration=integration, user=cast.contributor)
            linked = make_feature(cast.workspace, name=f"Linked {n}")
            make_link(
                integration,
                linked,
                rally_oid=10_000 + linked.pk,
                formatted_id=f"F{linked.pk}",
                url=f"https://rally.example.com/#/x/{linked.pk}",
            )

    grow(2)
    small = [_queries(client, url) for url in (board, queue, report)]
    grow(20)
    large = [_queries(client, url) for url in (board, queue, report)]
    assert small == large
    page = client.get(queue).content.decode()
    assert page.count('class="queue-entry') == 22
    assert Integration.objects.count() == 1
