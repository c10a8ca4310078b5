from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.records.history import record_history
from aharally.records.services import update_record
from tests.factories import make_feature, make_release


def test_history_lists_changes_newest_first_with_who_and_what(cast):
    feature = make_feature(cast.workspace, name="First")
    update_record(feature, changes={"name": "Second"}, user=cast.owner)
    update_record(feature, changes={"name": "Third"}, user=cast.contributor)
    history = record_history(feature)
    assert [(e.field, e.label, e.old_value, e.new_value, e.who) for e in history] == [
        ("name", "Name", "Second", "Third", "contributor@example.com"),
        ("name", "Name", "First", "Second", "owner@example.com"),
    ]


def test_history_names_the_source_when_no_person_made_the_change(cast):
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"estimate": 3}, source="Rally")
    [entry] = record_history(feature)
    assert (entry.who, entry.old_value, entry.new_value) == ("Rally", "", "3")


def test_history_is_one_query_however_many_changes_and_people(cast):
    feature = make_feature(cast.workspace)
    people = [cast.owner, cast.contributor, cast.reviewer, cast.viewer]
    record_history(feature)  # warms Django's content type cache
    with CaptureQueriesContext(connection) as few:
        record_history(feature)
    for i in range(20):
        update_record(feature, changes={"name": f"Name {i}"}, user=people[i % 4])
    with CaptureQueriesContext(connection) as many:
        history = record_history(feature)
    assert len(history) == 20
    assert len(few) == len(many) == 1


def test_history_is_per_record(cast):
    first, second = make_feature(cast.workspace), make_feature(cast.workspace)
    release = make_release(cast.workspace)
    update_record(first, changes={"name": "Changed"}, user=cast.owner)
    update_record(release, changes={"name": "Changed"}, user=cast.owner)
    assert record_history(second) == []
    assert len(record_history(first)) == 1


def test_the_history_partial_shows_from_and_to(client, cast):
    release = make_release(cast.workspace, name="Spring")
    update_record(release, changes={"name": "Summer"}, user=cast.owner)
    client.force_login(cast.viewer)
    html = client.get(f"/w/PLAT/releases/{release.reference}/").content.decode()
    section = html[html.index('class="history"') :]
    assert "owner@example.com" in section
    assert '<span class="old" title="before">Spring</span>' in section
    assert '<span class="new" title="after">Summer</span>' in section
