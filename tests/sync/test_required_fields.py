"""A field Rally requires (an administrator's rule in the sandbox) is checked before any create."""

from __future__ import annotations

from datetime import date

import pytest

from aharally.records.services import update_record
from aharally.sync.models import ErrorKind, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_empty_required_field_is_refused_naming_it_then_sent_once_filled(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Undated {word}")
    with rally_sandbox.required_field("PortfolioItem/Feature", "PlannedEndDate"):
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
        rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
        drain_outbox(integration.pk)
        requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]

        row = OutboxItem.objects.get(record_id=feature.pk)
        assert (row.state, row.error_kind) == (OutboxState.FAILED, ErrorKind.REQUIRED)
        assert f"{feature.reference}'s Due date is empty" in row.error_message
        assert "Required flag on Due date in Settings → Custom layouts" in row.error_message
        assert rally_objects(rally_sandbox, "PortfolioItem/Feature", word) == []
        # Only look-ups (the type, its attributes, its states): no create.
        assert requests == 3

        # Filling the field is a change of the record: the send is tried again by itself.
        update_record(feature, changes={"due_date": date(2027, 5, 1)}, user=cast.contributor)
        drain_outbox(integration.pk)

    assert Link.objects.filter(record_id=feature.pk, record_type="feature").exists()
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 1


def test_a_required_rally_custom_field_is_named_in_the_check_before_a_create(cast, rally_sandbox):
    # An administrator makes the features' c_Customer (a custom field) required: nothing of
    # aharally maps to it yet, so the create is refused before it is sent, naming the field.
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Customerless {word}")
    with rally_sandbox.required_field("PortfolioItem/Feature", "c_Customer"):
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
        drain_outbox(integration.pk)
        row = OutboxItem.objects.get(record_id=feature.pk)
        assert (row.state, row.error_kind) == (OutboxState.FAILED, ErrorKind.REQUIRED)
        assert "Rally requires Feature.Customer, and no field of aharally maps to it" in (
            row.error_message
        )
        assert "Required flag in Settings → Custom layouts" in row.error_message
        assert rally_objects(rally_sandbox, "PortfolioItem/Feature", word) == []
