"""`records.load_sent`, the send's read of its records: its SQL is composed once per shape and
its rows are built the way Django's own iterator builds them, with Django's internals. These
check it gives what the ORM's `load_record` gives, so a Django upgrade that changes those
internals fails here rather than in a send."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations.models import Integration
from aharally.records.models import Tag
from aharally.records.services import create_epic, create_initiative
from aharally.sync import links
from aharally.sync.mapping import record_values
from aharally.sync.models import LinkState
from aharally.sync.records import load_record, load_sent
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_link, make_release, make_requirement, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast):
    # Links are made directly: nothing here asks Rally.
    return Integration.objects.create(
        workspace=cast.workspace, name="Rally", rally_url="https://rally1.rallydev.com"
    )


RELATIONS = {
    RecordType.FEATURE: ["workspace", "status", "assignee", "release", "initiative", "epic"],
    RecordType.REQUIREMENT: ["workspace", "status", "assignee", "feature"],
}


def load_one(record_type: str, record_id: int, **annotations):
    return load_sent(record_type, [record_id], **annotations).get(record_id)


def _columns(record) -> dict:
    return {field.attname: getattr(record, field.attname) for field in record._meta.concrete_fields}


def _same_as_the_orm(record_type: str, record, **annotations) -> object:
    loaded = load_one(record_type, record.pk, **annotations)
    expected = load_record(record_type, record.pk, **annotations)
    assert type(loaded) is type(expected)
    assert _columns(loaded) == _columns(expected)
    for name in annotations:
        assert getattr(loaded, name) == getattr(expected, name), name
    with CaptureQueriesContext(connection) as read_after:
        for relation in RELATIONS[record_type]:
            mine, theirs = getattr(loaded, relation), getattr(expected, relation)
            assert (mine and _columns(mine)) == (theirs and _columns(theirs)), relation
        # The tags' names come with it, as the send reads them.
        assert sorted(loaded.tag_names_) == sorted(tag.name for tag in expected.tags.all())
        sent = {"fields": ["tags"], "state_for": str}
        assert record_values(loaded, **sent) == record_values(expected, **sent)
    # Every relation the send reads came with the record: nothing more was asked.
    assert read_after.captured_queries == []
    assert loaded._state.db == expected._state.db
    assert loaded._state.adding is False
    return loaded


def test_a_feature_with_every_relation_loads_as_the_orm_loads_it(cast, integration):
    workspace = cast.workspace
    tags = [Tag.objects.create(workspace=workspace, name=name) for name in ("ux", "api")]
    feature = make_feature(
        workspace,
        release=make_release(workspace),
        initiative=create_initiative(workspace=workspace, name="Grow"),
        epic=create_epic(workspace=workspace, name="Checkout"),
        assignee=make_user("assignee@example.com"),
        tags=tags,
        estimate="3.50",
    )
    checks = links.checks_of_record(integration, RecordType.FEATURE)

    loaded = _same_as_the_orm(RecordType.FEATURE, feature, **checks)

    assert (loaded.linked_on_site, loaded.broken_here) == (False, False)
    assert sorted(tag.name for tag in loaded.tags.all()) == ["api", "ux"]


def test_a_feature_with_no_relations_set_loads_its_empty_ones_as_none(cast, integration):
    feature = make_feature(cast.workspace)

    loaded = _same_as_the_orm(RecordType.FEATURE, feature)

    assert (loaded.initiative, loaded.epic, loaded.assignee) == (None, None, None)
    assert list(loaded.tags.all()) == []


def test_a_requirement_loads_with_its_feature(cast, integration):
    feature = make_feature(cast.workspace)
    requirement = make_requirement(
        feature, tags=[Tag.objects.create(workspace=cast.workspace, name="db")]
    )

    loaded = _same_as_the_orm(RecordType.REQUIREMENT, requirement)

    assert loaded.feature.pk == feature.pk


def test_the_link_checks_ride_along_and_follow_the_links(cast, integration):
    linked, broken = make_feature(cast.workspace), make_feature(cast.workspace)
    site = links.site_of(integration)
    make_link(integration, linked, rally_oid=101, rally_site=site)
    make_link(integration, broken, rally_oid=102, rally_site=site, state=LinkState.BROKEN)
    checks = links.checks_of_record(integration, RecordType.FEATURE)

    assert (load_one(RecordType.FEATURE, linked.pk, **checks).linked_on_site) is True
    assert (load_one(RecordType.FEATURE, linked.pk, **checks).broken_here) is False
    assert (load_one(RecordType.FEATURE, broken.pk, **checks).linked_on_site) is False
    assert (load_one(RecordType.FEATURE, broken.pk, **checks).broken_here) is True


def test_a_deleted_record_loads_as_none_in_one_query(cast, integration):
    feature = make_feature(cast.workspace)
    load_one(RecordType.FEATURE, feature.pk)  # its shape composed
    missing = feature.pk
    feature.delete()

    with CaptureQueriesContext(connection) as read:
        assert load_one(RecordType.FEATURE, missing) is None
    assert len(read.captured_queries) == 1


def test_a_loaded_record_saves_like_any_other(cast, integration):
    feature = make_feature(cast.workspace, name="Before")
    loaded = load_one(RecordType.FEATURE, feature.pk)

    loaded.name = "After"
    loaded.save(update_fields=["name"])

    feature.refresh_from_db()
    assert feature.name == "After"


def test_records_read_together_are_each_what_the_orm_gives_in_one_query(cast, integration):
    tag = Tag.objects.create(workspace=cast.workspace, name="together")
    features = [make_feature(cast.workspace, name=f"Together {n}") for n in range(3)]
    features[1].tags.add(tag)
    site = links.site_of(integration)
    make_link(integration, features[2], rally_oid=103, rally_site=site)
    checks = links.checks_of_record(integration, RecordType.FEATURE)
    gone = make_feature(cast.workspace)
    gone_id = gone.pk
    gone.delete()
    ids = [features[2].pk, gone_id, features[0].pk, features[1].pk]

    with CaptureQueriesContext(connection) as read:
        loaded = load_sent(RecordType.FEATURE, ids, **checks)

    assert len(read.captured_queries) == 1
    assert sorted(loaded) == sorted(f.pk for f in features)  # the deleted one is not there
    for feature in features:
        orm = load_record(RecordType.FEATURE, feature.pk, **checks)
        assert _columns(loaded[feature.pk]) == _columns(orm)
        assert loaded[feature.pk].linked_on_site == orm.linked_on_site
    assert loaded[features[1].pk].tag_names_ == ["together"]
    assert loaded[features[0].pk].tag_names_ == []
