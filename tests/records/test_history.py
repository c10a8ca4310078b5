from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aharally.records.history import record_history
from aharally.records.models import RecordChange
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


def test_history_shows_rich_text_as_its_words_not_its_markup(cast):
    feature = make_feature(cast.workspace, description="<p>Why: faster</p><p>How &amp; when</p>")
    update_record(feature, changes={"description": "<p>Why: <b>cheaper</b></p>"}, user=cast.owner)
    [entry] = record_history(feature)
    assert (entry.old_value, entry.new_value) == ("Why: faster How & when", "Why: cheaper")


def test_history_shows_estimates_as_entered(cast):
    feature = make_feature(cast.workspace, estimate=Decimal("13"))
    feature.refresh_from_db()  # the database gives 13.00 back
    update_record(feature, changes={"estimate": Decimal("8")}, user=cast.owner)
    update_record(feature, changes={"estimate": Decimal("2.50")}, user=cast.owner)
    assert [(e.old_value, e.new_value) for e in record_history(feature)] == [
        ("8", "2.5"),
        ("13", "8"),
    ]


def test_a_change_of_a_moment_ago_is_just_now_and_older_ones_say_how_old(cast):
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"name": "Renamed"}, user=cast.owner)
    [entry] = record_history(feature)
    assert entry.ago == "just now"
    RecordChange.objects.update(changed_at=timezone.now() - timedelta(minutes=5))
    [entry] = record_history(feature)
    assert entry.ago == "5\xa0minutes ago"  # timesince keeps number and unit together


def test_the_drawer_shows_history_as_text(client, cast):
    feature = make_feature(cast.workspace, description="<p>Why: faster</p>")
    update_record(feature, changes={"description": "<p>Why: cheaper</p>"}, user=cast.owner)
    client.force_login(cast.owner)
    page = client.get(f"/w/PLAT/features/{feature.reference}/").content.decode()
    history = page[page.index('class="history"') :]
    assert "Why: faster" in history and "Why: cheaper" in history
    assert "&lt;p&gt;" not in history
    assert "just now" in history and "0 minutes" not in history
