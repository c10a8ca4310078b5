"""Conflict policies (acceptance 2): a field changed on both sides goes by its two-way field
mapping's policy, in the catch-up and in an update's read before it writes; what a policy
decided is in the record's history and the log with both values; *Ask a reviewer* is today's."""

from __future__ import annotations

import pytest

from aharally.conflictpolicy.models import Policy, set_policy
from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import FieldMapping
from aharally.records.models import RecordChange
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Activity, Conflict, ConflictState, Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _name_mapping(integration) -> FieldMapping:
    return FieldMapping.objects.get(
        record_mapping__integration=integration.source,
        record_mapping__record_type=RecordType.FEATURE,
        field="name",
    )


def _both_changed(cast, sandbox, integration, *, rally_first: bool = True):
    """A linked feature whose name then changes in Rally and here (in that order or not)."""
    feature = make_feature(cast.workspace, name=f"Both {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    theirs, ours = f"Rally's {token()}", f"Ours {token()}"

    def in_rally():
        with sandbox_client(sandbox) as client:
            client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": theirs})

    def here():
        update_record(feature, changes={"name": ours}, user=cast.contributor)

    for step in (in_rally, here) if rally_first else (here, in_rally):
        step()
    return feature, link, ours, theirs


def _rally_name(sandbox, link) -> str:
    with sandbox_client(sandbox) as client:
        return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"])["Name"]


def _said(feature, ours, theirs, winner):
    (line,) = Activity.objects.filter(action="conflict", record_id=feature.pk)
    assert ours in line.detail and theirs in line.detail
    assert winner in line.detail
    assert IntegrationLogEntry.objects.filter(message=line.detail).count() == 1


def test_rally_wins_in_the_catch_up_takes_rallys_value_with_no_conflict(
    cast, rally_sandbox, integration
):
    set_policy(field_mapping=_name_mapping(integration), policy=Policy.RALLY)
    feature, link, ours, theirs = _both_changed(cast, rally_sandbox, integration)

    pull_updates(integration.pk)
    drain_outbox(integration.pk)  # our edit's queued row: nothing left to send

    feature.refresh_from_db()
    assert feature.name == theirs
    assert not Conflict.objects.exists()
    _said(feature, ours, theirs, f"Rally wins: Rally's “{theirs}” is kept")
    change = RecordChange.objects.filter(object_id=feature.pk, field="name").latest("pk")
    assert (change.old_value, change.new_value, change.source) == (ours, theirs, "Rally")
    assert _rally_name(rally_sandbox, link) == theirs


def test_rally_wins_in_an_updates_read_keeps_rallys_value_and_sends_nothing_over_it(
    cast, rally_sandbox, integration
):
    set_policy(field_mapping=_name_mapping(integration), policy=Policy.RALLY)
    feature, link, ours, theirs = _both_changed(cast, rally_sandbox, integration)

    drain_outbox(integration.pk)  # the send reads first and finds Rally's edit

    feature.refresh_from_db()
    assert feature.name == theirs
    assert _rally_name(rally_sandbox, link) == theirs
    assert not Conflict.objects.exists()
    _said(feature, ours, theirs, "Rally wins")
    pull_updates(integration.pk)  # and the catch-up sees nothing left to settle
    assert Activity.objects.filter(action="conflict", record_id=feature.pk).count() == 1


def test_aharally_wins_in_the_catch_up_sends_ours_again(cast, rally_sandbox, integration):
    set_policy(field_mapping=_name_mapping(integration), policy=Policy.AHARALLY)
    feature, link, ours, theirs = _both_changed(cast, rally_sandbox, integration)

    pull_updates(integration.pk)
    drain_outbox(integration.pk)
    pull_updates(integration.pk)

    feature.refresh_from_db()
    assert feature.name == ours
    assert _rally_name(rally_sandbox, link) == ours
    assert not Conflict.objects.exists()
    _said(feature, ours, theirs, "aharally wins")


@pytest.mark.parametrize(("rally_first", "winner"), [(True, "ours"), (False, "theirs")])
def test_most_recent_change_wins(cast, rally_sandbox, integration, rally_first, winner):
    set_policy(field_mapping=_name_mapping(integration), policy=Policy.RECENT)
    feature, link, ours, theirs = _both_changed(
        cast, rally_sandbox, integration, rally_first=rally_first
    )

    pull_updates(integration.pk)
    drain_outbox(integration.pk)

    feature.refresh_from_db()
    expected = ours if winner == "ours" else theirs
    assert feature.name == expected
    assert _rally_name(rally_sandbox, link) == expected
    assert not Conflict.objects.exists()


def test_ask_a_reviewer_is_the_default_and_opens_a_conflict_as_before(
    cast, rally_sandbox, integration
):
    feature, _, ours, theirs = _both_changed(cast, rally_sandbox, integration)

    pull_updates(integration.pk)

    feature.refresh_from_db()
    assert feature.name == ours
    (conflict,) = Conflict.objects.filter(state=ConflictState.OPEN)
    assert (conflict.ours, conflict.theirs) == (ours, theirs)


def test_a_derived_integration_follows_its_templates_policy(cast, rally_sandbox, template_group):
    set_policy(field_mapping=_name_mapping(template_group.platform), policy=Policy.RALLY)
    integration = template_group.company_integration
    feature = make_feature(template_group.company, name=f"Derived {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": "Rally's derived"})
    update_record(feature, changes={"name": "Our derived"}, user=cast.owner)

    pull_updates(integration.pk)

    feature.refresh_from_db()
    assert feature.name == "Rally's derived"
    assert not Conflict.objects.exists()
