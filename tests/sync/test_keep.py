"""Keep aharally's value or use Rally's (review/keep.py): one rule for conflicts and Compare."""

from __future__ import annotations

import pytest

from aharally.records.models import RecordChange
from aharally.sync.models import OutboxItem, OutboxKind, OutboxState
from aharally.sync.review.keep import NoMatch, keep_value
from tests.factories import make_feature, make_link
from tests.sync.support import connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace, name="Ours")
    link = make_link(
        integration,
        feature,
        rally_oid=1,
        formatted_id="F1",
        url="https://rally.example.com/#/detail/x/1",
        baseline={"name": "Agreed"},
    )
    return link, feature


def test_rallys_value_is_written_by_the_person_who_chose_it_and_not_sent_back(cast, linked):
    link, feature = linked

    queued = keep_value(
        link=link, record=feature, field="name", theirs="Theirs", keep="theirs", user=cast.reviewer
    )

    assert queued is False
    feature.refresh_from_db()
    assert feature.name == "Theirs"
    change = RecordChange.objects.filter(object_id=feature.pk, field="name").latest("id")
    assert change.changed_by == cast.reviewer and change.source == "Rally"
    link.refresh_from_db()
    assert link.baseline["name"] == "Theirs"
    assert not OutboxItem.objects.exists()


def test_aharallys_value_is_queued_against_rallys_as_the_baseline(cast, linked):
    link, feature = linked

    queued = keep_value(
        link=link, record=feature, field="name", theirs="Theirs", keep="ours", user=cast.reviewer
    )

    assert queued is True
    feature.refresh_from_db()
    assert feature.name == "Ours"
    link.refresh_from_db()
    assert link.baseline["name"] == "Theirs"
    row = OutboxItem.objects.get()
    assert (row.kind, row.state, row.fields) == (OutboxKind.UPDATE, OutboxState.QUEUED, ["name"])


def test_a_rally_person_aharally_lacks_is_refused_and_nothing_written(cast, linked):
    link, feature = linked

    with pytest.raises(NoMatch, match="has no match in aharally"):
        keep_value(
            link=link,
            record=feature,
            field="assignee",
            theirs="nobody@example.com",
            keep="theirs",
            user=cast.reviewer,
        )

    link.refresh_from_db()
    assert link.baseline == {"name": "Agreed"}
    assert not RecordChange.objects.filter(object_id=feature.pk, field="assignee").exists()
