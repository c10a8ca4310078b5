"""Finding 5 of issue 15: faults, a killed cluster and catch-ups of a template group at once.

A bulk send under 5xx, 429s, answers dropped after commit and latency, with the cluster
killed mid-send and both integrations' catch-ups (automatic import on) running meanwhile:
every feature ends linked, each exactly once in Rally, and neither workspace gains a copy.
"""

from __future__ import annotations

import pytest

from aharally.records.models import Feature
from aharally.records.services import create_initiative
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Conflict, ConflictState, Link, OutboxItem, OutboxState
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import rally_objects, token
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]

FEATURES = 40


def _linked(features) -> int:
    return Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in features], state="ok"
    ).count()


def test_faults_a_killed_cluster_and_catch_ups_make_nothing_twice(
    cast, rally_sandbox, faults, task_cluster, template_group
):
    company = template_group.company
    platform, company_integration = template_group.platform, template_group.company_integration
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


def _as_a_developer_would(action):
    """Rally answers the developer's own edits 503 too, under the fault: they try again.
    (A rename whose answer was dropped did happen: a rename is the same when done twice.)"""
    from aharally.rally.errors import RallyOutcomeUnknown, RallyTransientError

    for _ in range(10):
        try:
            return action()
        except RallyOutcomeUnknown:
            return None
        except RallyTransientError:
            continue
    raise AssertionError("Rally refused a developer's edit ten times")


def _children(pid: int) -> set[int]:
    from pathlib import Path

    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(child) for child in children.read_text().split())
        except OSError:
            continue
    return found


def _kill_worker_processes(cluster) -> int:
    """SIGKILL the processes under the cluster's sentinel (workers, pusher, monitor), as the
    kernel's OOM killer would: the main process and its sentinel live on."""
    import os
    import signal

    killed = 0
    for sentinel in _children(cluster.process.pid):
        for pid in _children(sentinel):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def test_a_bulk_send_under_faults_with_workers_killed_and_edits_on_both_sides_converges(
    cast, rally_sandbox, faults, task_cluster, template_group
):
    """Acceptance 4 of issue 15."""
    from aharally.records.models import Requirement
    from aharally.records.services import update_record
    from tests.sync.support import sandbox_client, scope_of

    company = template_group.company
    platform, company_integration = template_group.platform, template_group.company_integration
    word = token()
    initiative = create_initiative(workspace=company, name=f"Shared {word}")
    features = [
        make_feature(cast.workspace, name=f"{word} feature {n}", initiative=initiative)
        for n in range(30)
    ]
    faults(
        {"kind": "latency", "ms": 200},
        {"kind": "error_rate", "fraction": 0.15, "status": 503},
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "portfolioitem/feature/create"},
            "count": 4,
        },
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "portfolioitem/initiative/create"},
            "count": 1,
        },
        {
            "kind": "drop_after_commit",
            "match": {"method": "POST", "path_contains": "portfolioitem/feature/7"},
            "count": 2,
        },
    )
    start_job(records=features, integration=platform, user=cast.contributor, label="bulk")
    wait_until(lambda: _linked(features) >= 10, timeout=180, what="the send under way")
    assert _kill_worker_processes(task_cluster) >= 2
    assert _linked(features) < 30, "the kill came too late to prove anything"

    # Both sides edit linked features, and Rally gains stories under them, meanwhile.
    linked = [
        f
        for f in features
        if Link.objects.filter(record_type=RecordType.FEATURE, record_id=f.pk).exists()
    ]
    ours, theirs, parents = linked[0:3], linked[3:6], linked[6:9]
    for feature in ours:
        update_record(feature, changes={"name": f"{feature.name} here"}, user=cast.owner)
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        for feature in theirs:
            link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
            _as_a_developer_would(
                lambda link=link, feature=feature: client.update(
                    f"/portfolioitem/feature/{link.rally_oid}",
                    {"Name": f"{feature.name} in Rally"},
                )
            )
        for feature in parents:
            link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
            _as_a_developer_would(
                lambda link=link, feature=feature: client.create(
                    "HierarchicalRequirement",
                    {
                        "Name": f"Story of {feature.name}",
                        "Project": f"/project/{project}",
                        "PortfolioItem": f"/portfolioitem/feature/{link.rally_oid}",
                    },
                )
            )

    # The cluster heals itself; then the faults end.
    wait_until(lambda: _linked(features) == 30, timeout=300, what="every feature linked")
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")

    def quiet_and_caught_up():
        for integration in (platform, company_integration):
            pull_updates(integration.pk)
        return not OutboxItem.objects.exclude(
            state__in=[OutboxState.SENT, OutboxState.REJECTED]
        ).exists()

    wait_until(quiet_and_caught_up, timeout=240, interval=2, what="the sync at rest")

    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word, fetch=["Name"])
    assert len(held) == 30, "Rally holds a feature twice"
    links = Link.objects.filter(record_type=RecordType.FEATURE, state="ok")
    assert sorted(link.rally_oid for link in links) == sorted(item.object_id for item in held)
    by_oid = {item.object_id: item["Name"] for item in held}
    for feature in features:
        feature.refresh_from_db()
        link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
        # Converged: each edit, on either side, holds on both (no conflict: no field was
        # edited on both sides).
        rows = OutboxItem.objects.filter(record_type="feature", record_id=feature.pk)
        assert by_oid[link.rally_oid] == feature.name, (
            f"{feature.reference} is {feature.name!r} here, {by_oid[link.rally_oid]!r} in Rally; "
            f"its rows: {list(rows.values_list('kind', 'state', 'error_kind', 'sent_values'))}"
        )
    assert not Conflict.objects.filter(state=ConflictState.OPEN).exists()
    assert all(f.name.endswith(" here") for f in ours), "a rename here was lost"
    assert all(f.name.endswith(" in Rally") for f in theirs), "a rename in Rally was lost"
    assert Feature.objects.filter(workspace=cast.workspace).count() == 30
    assert not Feature.objects.filter(workspace=company).exists(), "Company got copies"
    for feature in parents:
        assert Requirement.objects.filter(feature=feature).count() == 1
    stories = rally_objects(rally_sandbox, "HierarchicalRequirement", word)
    assert len(stories) == 3
