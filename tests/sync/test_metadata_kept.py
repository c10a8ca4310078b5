"""Rally's metadata is kept across drains: an isolated Send costs its create alone, and what
was kept is read again when the mappings change or Rally says it is wrong."""

from __future__ import annotations

from datetime import date

import pytest

from aharally.integrations.models import Direction
from aharally.integrations.rally_metadata import MetadataCache
from aharally.integrations.templates_service import effective_config
from aharally.integrations.wizard import mappings
from aharally.rally.objects import RallyRef
from aharally.sync.models import ErrorKind, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import Membership, RecordType, Role
from tests.factories import make_feature, make_user
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = "PortfolioItem/Feature"


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


@pytest.fixture
def developer(cast):
    """A member whom Rally knows by email (the sandbox has a user developer@example.com)."""
    user = make_user("developer@example.com")
    Membership.objects.create(workspace=cast.workspace, user=user, role=Role.CONTRIBUTOR)
    return user


def send(cast, rally_sandbox, integration, **fields) -> tuple[Link, int]:
    """One feature sent and drained alone: its link and the Rally requests the drain made."""
    feature = make_feature(cast.workspace, name=f"Kept {token()}", **fields)
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
    drain_outbox(integration.pk)
    requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
    row = OutboxItem.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert row.state == OutboxState.SENT, row.error_message
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk), requests


def rally_feature(rally_sandbox, link: Link) -> dict:
    with sandbox_client(rally_sandbox) as client:
        return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["State", "Owner"])


def test_an_isolated_send_after_a_warm_one_costs_exactly_one_request(
    cast, rally_sandbox, integration, developer
):
    # The first drain reads the type (once), its attributes and its states, and the person.
    _, first = send(cast, rally_sandbox, integration, assignee=developer)
    assert first == 1 + 4

    for _ in range(2):
        link, requests = send(cast, rally_sandbox, integration, assignee=developer)
        assert requests == 1  # the create
        found = rally_feature(rally_sandbox, link)
        assert found["State"] is not None  # the status went as a State reference
        assert found["Owner"]["_refObjectName"]


def test_a_mapping_changed_in_the_wizard_is_read_from_rally_again(cast, rally_sandbox, integration):
    send(cast, rally_sandbox, integration)
    record_mapping = integration.record_mappings.get(record_type=RecordType.FEATURE)

    mappings.save_field_directions(
        record_mapping=record_mapping, directions={"description": Direction.TO_AHARALLY}
    )

    _, requests = send(cast, rally_sandbox, integration)
    assert requests == 3 + 1  # the type, its attributes and states, then the create
    _, requests = send(cast, rally_sandbox, integration)
    assert requests == 1


def test_a_kept_state_rally_no_longer_has_is_read_again_and_the_send_succeeds(
    cast, rally_sandbox, integration
):
    link, _ = send(cast, rally_sandbox, integration)
    real_state = rally_feature(rally_sandbox, link)["State"]["_refObjectName"]
    kept = MetadataCache.of(integration, effective_config(integration))
    states = kept.get("states", FEATURE)
    # As if the state had been deleted in Rally since it was kept.
    kept.put("states", FEATURE, {name: RallyRef(ref="/state/999999999") for name in states})

    link, requests = send(cast, rally_sandbox, integration)

    # The refused create, the type, its attributes and states read again, the create.
    assert requests == 1 + 3 + 1
    assert rally_feature(rally_sandbox, link)["State"]["_refObjectName"] == real_state
    _, requests = send(cast, rally_sandbox, integration)
    assert requests == 1


def test_a_field_rally_now_requires_is_read_again_and_named_without_a_second_create(
    cast, rally_sandbox, integration
):
    send(cast, rally_sandbox, integration)
    feature = make_feature(cast.workspace, name=f"Undated {token()}")
    with rally_sandbox.required_field(FEATURE, "PlannedEndDate"):
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
        rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
        drain_outbox(integration.pk)
        requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]

    row = OutboxItem.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert (row.state, row.error_kind) == (OutboxState.FAILED, ErrorKind.REQUIRED)
    assert f"{feature.reference}'s Due date is empty" in row.error_message
    # The create Rally refused (the attributes kept said optional), the type, its attributes
    # and states read again: the field is required now, so no second create.
    assert requests == 1 + 3


def test_a_field_kept_as_required_that_rally_no_longer_requires_is_read_again_and_sent(
    cast, rally_sandbox, integration
):
    with rally_sandbox.required_field(FEATURE, "PlannedEndDate"):
        dated = make_feature(cast.workspace, name=f"Dated {token()}", due_date=date(2027, 5, 1))
        outbox.request_send(record=dated, integration=integration, user=cast.contributor)
        drain_outbox(integration.pk)  # keeps the attributes: PlannedEndDate required

    # Rally no longer requires it; what is kept still says it does.
    link, requests = send(cast, rally_sandbox, integration)

    assert requests == 3 + 1  # the type, its attributes and states read again, the create
    assert link.formatted_id.startswith("F")


def test_a_refused_credential_costs_one_request_when_nothing_needs_reading(
    cast, rally_sandbox, integration
):
    send(cast, rally_sandbox, integration)  # what the type needs is kept from now on
    features = [make_feature(cast.workspace, name=f"Revoked {token()}") for _ in range(20)]
    integration.api_key = "_RevokedKey" + "0" * 30
    integration.save()
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    drain_outbox(integration.pk)

    assert rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"] == 1
    integration.refresh_from_db()
    assert integration.needs_reauthorization
    rows = OutboxItem.objects.filter(record_id__in=[f.pk for f in features])
    assert set(rows.values_list("state", "error_kind")) == {(OutboxState.QUEUED, ErrorKind.AUTH)}
