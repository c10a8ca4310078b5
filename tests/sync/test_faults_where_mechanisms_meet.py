"""Finding 5 of issue 15: faults, a killed cluster and catch-ups of a template group at once.

A bulk send under 5xx, 429s, answers dropped after commit and latency, with the cluster
killed mid-send and both integrations' catch-ups (automatic import on) running meanwhile:
every feature ends linked, each exactly once in Rally, and neither workspace gains a copy.
"""

from __future__ import annotations

import pytest

from aharally.integrations.templates_service import use_as_template
from aharally.records.models import Feature
from aharally.records.services import create_initiative
from aharally.sync.jobs import start_job
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.pull import pull_updates
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_workspace
from tests.sync.cluster import wait_until
from tests.sync.support import connect, rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = 40


@pytest.fixture
def faults(rally_sandbox):
    def add(*specs):
        response = rally_sandbox.admin("POST", "/sandbox-admin/faults", json=list(specs))
        assert response.status_code == 201, response.text

    yield add
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")


def _linked(features) -> int:
    return Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features], state="ok"
    ).count()


def test_faults_a_killed_cluster_and_catch_ups_make_nothing_twice(
    cast, rally_sandbox, faults, task_cluster
):
    company = make_workspace("Company", "CO", owner=cast.owner)
    platform = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    use_as_template(integration=platform, by=cast.owner)
    platform.refresh_from_db()
    company_integration = connect(company, rally_sandbox, owner=cast.owner, template=platform)
    word = token()
    initiative = create_initiative(workspace=company, name=f"Shared {word}")
    features = [
        make_feature(cast.workspace, name=f"{word} feature {n}", initiative=initiative)
        for n in range(FEATURES)
    ]
    faults(
        {"kind": "latency", "ms": 300},
        {
            "kind": "error_rate",
            "fraction": 0.1,
            "status": 503,
            "match": {"path_contains": "feature"},
        },
        {"kind": "status", "status": 429, "retry_after": 1, "count": 4},
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "portfolioitem/feature"},
            "count": 6,
        },
    )

    start_job(records=features, integration=platform, user=cast.contributor, label="bulk")
    wait_until(lambda: _linked(features) >= 12, timeout=120, what="the send under way")
    task_cluster.kill()
    assert _linked(features) < FEATURES, "the kill came too late to prove anything"
    # The catch-ups see objects whose answers were lost, and those whose requests finished
    # after the kill, before any retry looks for them.
    for integration in (company_integration, platform):
        pull_updates(integration.pk)
    task_cluster.start()

    wait_until(lambda: _linked(features) == FEATURES, timeout=300, what="every feature linked")
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
    for integration in (company_integration, platform, company_integration):
        pull_updates(integration.pk)

    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    names = sorted(item["Name"] for item in held)
    assert names == sorted(f.name for f in features), "Rally holds a duplicate or misses one"
    assert Feature.objects.filter(workspace=cast.workspace).count() == FEATURES
    assert not Feature.objects.filter(workspace=company).exists(), "Company got copies"
    links = Link.objects.filter(record_type=RecordType.FEATURE, state="ok")
    assert sorted(link.rally_oid for link in links) == sorted(item.object_id for item in held)
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Initiative", word)) == 1
    wait_until(
        lambda: not OutboxItem.objects.filter(state=OutboxState.IN_FLIGHT).exists(),
        timeout=60,
        what="no row left in flight",
    )
