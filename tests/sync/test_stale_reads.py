"""A read of Rally older than aharally's own write never takes an old value back (issue 15).

A catch-up reads a page of Rally's objects, then applies them one by one; a send may write
one of them in between. What the catch-up read then is older than what both sides agreed
on since: applied, it would undo a person's rename here, or put the baseline back and make
the next send think Rally changed. Rally's version counter (`_objectVersion`) tells which
read is older.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from aharally.integrations.templates_service import effective_config
from aharally.records.services import update_record
from aharally.sync import mapping
from aharally.sync.incoming.apply import apply_rally_object
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


def _read_as_the_catch_up_does(sandbox, link, pairs):
    with sandbox_client(sandbox) as client:
        return client.read(
            f"/portfolioitem/feature/{link.rally_oid}",
            fetch=["ObjectID", "FormattedID", "LastUpdateDate", *[r for _, r in pairs]],
        )


def test_a_catch_up_that_read_rally_before_our_write_does_not_take_the_old_name_back(
    cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Old {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    record_mapping = effective_config(integration).mapping_for(RecordType.FEATURE)
    pairs = mapping.fields_to_receive(record_mapping.field_mappings)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    # The catch-up reads its page ...
    page_object = _read_as_the_catch_up_does(rally_sandbox, link, pairs)

    # ... a person renames the feature and the send goes out ...
    update_record(feature, changes={"name": f"New {word}"}, user=cast.owner)
    drain_outbox(integration.pk)
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word, fetch=["Name"])
    assert [item["Name"] for item in held] == [f"New {word}"]
    # ... and only then does the catch-up load the page's links and records, and apply it.
    stale_link = Link.objects.get(pk=link.pk)
    stale_record = type(feature).objects.get(pk=feature.pk)

    applied, conflicts = apply_rally_object(
        stale_link, stale_record, page_object, pairs, record_mapping
    )

    assert (applied, conflicts) == (0, 0)
    feature.refresh_from_db()
    assert feature.name == f"New {word}", "the catch-up took the old name back"
    link = Link.objects.get(pk=stale_link.pk)
    assert link.baseline["name"] == f"New {word}", "the baseline went back"
    # And the next catch-up, reading Rally as it is now, finds nothing to do.
    assert pull_updates(integration.pk)["applied"] == 0
    feature.refresh_from_db()
    assert feature.name == f"New {word}"
    assert not OutboxItem.objects.exclude(state=OutboxState.SENT).exists()


def test_a_send_settling_after_a_catch_up_keeps_what_the_catch_up_agreed(cast, rally_sandbox):
    """The send's baseline update merges into the link as it is then, not as the send read it."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Kept {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Description": "From Rally"})
    stale = Link.objects.get(pk=link.pk)
    pull_updates(integration.pk)  # takes the description: the baseline moves
    assert Link.objects.get(pk=link.pk).baseline["description"] == "From Rally"

    from aharally.sync.outgoing.guarded_update import Held, settle

    with transaction.atomic():  # as the send settles: beside its row's outcome
        settle(Held(), link=stale, record=feature, sent={"name": f"Sent {word}"})

    assert Link.objects.get(pk=link.pk).baseline["description"] == "From Rally"
    assert Link.objects.get(pk=link.pk).baseline["name"] == f"Sent {word}"
