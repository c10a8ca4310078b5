"""Changes of many linked records queued together (`outbox.queue_changes`), as a bulk edit
queues them: one row a record and integration, merged as one edit's would be."""

from __future__ import annotations

from aharally.sync.models import OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.integrations.builders import configured_integration


def test_a_row_written_meanwhile_by_another_transaction_is_joined_not_doubled(cast, monkeypatch):
    """The open rows are read, then the new ones inserted: a row another transaction wrote
    in between (PostgreSQL lets it) makes the insert fail, and those changes are queued one
    at a time, joining it. Nothing is lost, nothing doubled."""
    integration = configured_integration(cast.workspace)
    first, second = make_feature(cast.workspace), make_feature(cast.workspace)
    meanwhile = OutboxItem.objects.create(
        integration=integration,
        record_type=RecordType.FEATURE,
        record_id=first.pk,
        kind=OutboxKind.UPDATE,
        fields=["name"],
        state=OutboxState.QUEUED,
    )
    # As read before the other transaction committed its row.
    monkeypatch.setattr(outbox, "_open_rows_of", lambda changes: {})
    due = outbox.queue_changes(
        [
            outbox.Change(integration, RecordType.FEATURE, first.pk, ["status"]),
            outbox.Change(integration, RecordType.FEATURE, second.pk, ["release"]),
        ],
        user=cast.contributor,
    )
    assert due == {integration.pk}
    rows = {row.record_id: row for row in OutboxItem.objects.all()}
    assert len(rows) == 2
    assert rows[first.pk].pk == meanwhile.pk and rows[first.pk].fields == ["name", "status"]
    assert rows[second.pk].fields == ["release"]
    assert rows[second.pk].created_by == cast.contributor


def test_changes_wait_for_approval_where_it_is_needed_and_rich_text_for_typing_to_stop(
    cast, settings
):
    from aharally.integrations.models import OutgoingMode

    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 30
    integration = configured_integration(cast.workspace, outgoing_mode=OutgoingMode.APPROVE)
    automatic = configured_integration(cast.workspace, name="Other Rally")
    feature, described = make_feature(cast.workspace), make_feature(cast.workspace)
    due = outbox.queue_changes(
        [
            outbox.Change(integration, RecordType.FEATURE, feature.pk, ["status"]),
            outbox.Change(automatic, RecordType.FEATURE, described.pk, ["description"]),
        ],
        user=None,
    )
    assert due == set()  # one waits for a reviewer, the other for the typing to stop
    waiting = OutboxItem.objects.get(integration=integration)
    assert waiting.state == OutboxState.AWAITING_APPROVAL and waiting.not_before is None
    quiet = OutboxItem.objects.get(integration=automatic)
    assert quiet.state == OutboxState.QUEUED and quiet.not_before is not None
