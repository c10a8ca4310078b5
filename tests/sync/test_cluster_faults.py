"""The sync the way it fails in life: a real cluster, the sandbox's faults, a killed worker.

Each test counts what Rally holds, not only what aharally believes.
"""

from __future__ import annotations

import pytest

from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _features(cast, word: str, count: int):
    return [make_feature(cast.workspace, name=f"{word} feature {n}") for n in range(count)]


def _linked(features) -> int:
    return Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
    ).count()


def _assert_each_once_in_rally(rally_sandbox, features, word):
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    names = sorted(item["Name"] for item in held)
    assert names == sorted(f.name for f in features), "Rally holds a duplicate or misses one"
    links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features]
    )
    assert sorted(link.rally_oid for link in links) == sorted(item.object_id for item in held)


def test_a_bulk_send_under_5xx_and_429_links_each_feature_exactly_once(
    cast, rally_sandbox, integration, faults, task_cluster
):
    word = token()
    features = _features(cast, word, 100)
    faults(
        {
            "kind": "error_rate",
            "fraction": 0.2,
            "status": 500,
            "match": {"path_contains": "feature"},
        },
        # Rally's 429s: one request in ten of the send's hundred creates.
        {"kind": "status", "status": 429, "retry_after": 1, "count": 10},
    )
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")

    wait_until(lambda: _linked(features) == 100, timeout=180, what="100 links")
    _assert_each_once_in_rally(rally_sandbox, features, word)
    assert not OutboxItem.objects.exclude(state=OutboxState.SENT).exists()


def test_a_create_whose_answer_is_lost_is_found_and_adopted_not_duplicated(
    cast, rally_sandbox, integration, faults, task_cluster
):
    word = token()
    features = _features(cast, word, 3)
    faults(
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "feature/create"},
            "count": 2,
        }
    )
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")

    wait_until(lambda: _linked(features) == 3, timeout=90, what="3 links")
    _assert_each_once_in_rally(rally_sandbox, features, word)
    adopted = [row for row in OutboxItem.objects.filter(record_id__in=[f.pk for f in features])]
    assert sum(1 for row in adopted if row.attempts >= 1) == 3


def test_a_cluster_killed_mid_send_loses_nothing_and_duplicates_nothing(
    cast, rally_sandbox, integration, faults, task_cluster
):
    word = token()
    features = _features(cast, word, 200)
    # Slow Rally a little so the kill lands in the middle of the send.
    faults({"kind": "latency", "ms": 40})
    start_job(records=features, integration=integration, user=cast.contributor, label="bulk")
    wait_until(lambda: _linked(features) >= 30, timeout=90, what="the send under way")
    task_cluster.kill()
    linked_at_kill = _linked(features)
    assert linked_at_kill < 200, "the kill came too late to prove anything"
    task_cluster.start()  # kill() returned once the killed processes were gone

    wait_until(lambda: _linked(features) == 200, timeout=240, what="200 links")
    _assert_each_once_in_rally(rally_sandbox, features, word)
