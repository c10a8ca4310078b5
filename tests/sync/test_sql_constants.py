"""States written into the sync's hand-written SQL, not bound (aharally/sync/sqltext.py).

SQLite prepares a statement again on every execution when a bound value could decide whether
a partial index applies; the link's and the outbox's unique indexes are partial on `state`.
Bound, the state made a send's read of each record compile its seventy-column query anew:
six times the cost of running it. Nothing of a user's reaches these literals."""

from __future__ import annotations

import pytest
from django.db import connection

from aharally.integrations.models import Integration
from aharally.sync import links
from aharally.sync.models import LinkState, OutboxState
from aharally.sync.outgoing.cascade import requirements_to_follow
from aharally.sync.records import load_sent
from aharally.sync.sqltext import constant, constants
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_link, make_requirement

STATES = {state.value for state in (*LinkState, *OutboxState)}


def test_a_constant_is_quoted_and_anything_else_refused():
    assert constant(LinkState.OK) == "'ok'"
    assert constants([OutboxState.QUEUED, OutboxState.IN_FLIGHT]) == "'queued', 'in_flight'"
    for value in ("ok'; DROP TABLE sync_link; --", "OK", "", "in flight", "1"):
        with pytest.raises(ValueError, match="Not a constant"):
            constant(value)


class Statements:
    """Each statement run, as written and with the values bound to it."""

    def __init__(self) -> None:
        self.run: list[tuple[str, list]] = []

    def __call__(self, execute, sql, params, many, context):
        self.run.append((sql, list(params or ())))
        return execute(sql, params, many, context)


@pytest.mark.django_db
def test_a_sends_read_of_a_record_and_of_its_requirements_binds_no_state(cast):
    integration = Integration.objects.create(
        workspace=cast.workspace, name="Rally", rally_url="https://rally1.rallydev.com"
    )
    feature = make_feature(cast.workspace)
    linked = make_requirement(feature)
    make_requirement(feature)
    make_link(
        integration, linked, rally_oid=7, rally_type="HierarchicalRequirement",
        rally_site=links.site_of(integration),
    )  # fmt: skip
    checks = links.checks_of_record(integration, RecordType.REQUIREMENT)

    read = Statements()
    with connection.execute_wrapper(read):
        record = load_sent(RecordType.REQUIREMENT, [linked.pk], **checks)[linked.pk]
        follow = requirements_to_follow(integration=integration, feature_ids=[feature.pk])

    assert record.linked_on_site is True  # the written-in state still reads the link
    assert [is_linked for _pk, is_linked, _row in follow[feature.pk]] == [True, False]
    assert len(read.run) == 2
    for sql, params in read.run:
        assert "= 'ok'" in sql, sql[:200]
        assert STATES.isdisjoint(str(value) for value in params), params
