"""Bulk-send throughput with 1, 2 and 4 task clusters on one PostgreSQL database.

    .venv/bin/python bench/scale.py [--features 300] [--clusters 1,2,4] [--latency-ms 0]

Starts a throwaway PostgreSQL (scripts/with-postgres) unless DATABASE_URL names one, a fresh
Rally sandbox, and for each cluster count that many `manage.py qcluster` processes (2 workers
each), then measures two bulk sends, each with fresh features:
- one integration sending N features: one drain at a time per integration (its lease), 12
  requests in flight, whichever cluster runs it; more clusters can't make it faster;
- three integrations (three Rally users: demo, developer, admin) sending N/3 features each at
  once: three drains, 36 requests in flight, spread over the clusters' workers.
It prints objects per second, the peak in flight per credential (never above 12) and the
ratio of each figure to one cluster's. The sandbox runs on the same machine: on 2 cores the
ratios say more about the CPU than about the design; compare them on the same machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure() -> None:
    os.environ["AHARALLY_TESTING"] = "true"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aharally.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0, interactive=False)


def build_integrations(sandbox, count: int):
    from django.contrib.auth import get_user_model

    from aharally.records.services import create_workspace
    from aharally.workspaces.models import Membership, Role
    from tests.sync.support import connect

    keys = [sandbox.api_key, sandbox.developer_key, sandbox.admin_key][:count]
    User = get_user_model()
    made = []
    for n, key in enumerate(keys):
        owner = User.objects.create_user(username=f"o{n}", email=f"o{n}@example.com")
        contributor = User.objects.create_user(username=f"c{n}", email=f"c{n}@example.com")
        workspace = create_workspace(name=f"Scale {n}", prefix=f"SC{n}", owner=owner)
        Membership.objects.create(workspace=workspace, user=contributor, role=Role.CONTRIBUTOR)
        integration = connect(workspace, sandbox, owner=owner, api_key=key)
        made.append((workspace, contributor, integration))
    return made


def features_for(workspace, count: int, word: str):
    from aharally.records.services import create_feature
    from tests.factories import parking_lot

    lot = parking_lot(workspace)
    return [
        create_feature(workspace=workspace, name=f"{word} {n}", release=lot) for n in range(count)
    ]


def wait_for(condition, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("Timed out")
        time.sleep(0.05)


def measure(sandbox, integrations, per_integration: int, clusters: int, word: str) -> dict:
    """Start `clusters` clusters, bulk-send `per_integration` new features on each
    integration at once, and time it until every one is linked."""
    from aharally.sync.models import Link
    from aharally.sync.web.jobs import start_job
    from tests.sync.cluster import TaskCluster

    batches = [
        (integration, contributor, features_for(workspace, per_integration, f"{word}-{n}"))
        for n, (workspace, contributor, integration) in enumerate(integrations)
    ]
    ids = [f.pk for _, _, features in batches for f in features]
    running = [
        TaskCluster(env={"SYNC_DRAIN_BUDGET_SECONDS": "90"}, name=f"scale{n}").start()
        for n in range(clusters)
    ]
    try:
        for cluster in running:
            wait_for(lambda c=cluster: "running." in c.log(), timeout=60)
        sandbox.admin("POST", "/sandbox-admin/stats/reset")
        started = time.perf_counter()
        for integration, contributor, features in batches:
            start_job(records=features, integration=integration, user=contributor, label=word)
        wait_for(lambda: Link.objects.filter(record_id__in=ids).count() >= len(ids))
        wall = time.perf_counter() - started
        stats = sandbox.admin("GET", "/sandbox-admin/stats").json()
    finally:
        for cluster in running:
            cluster.stop()
    return {
        "objects": len(ids),
        "wall": wall,
        "rate": len(ids) / wall,
        "peak": max(stats["max_concurrent"].values(), default=0),
        "requests": stats["requests"],
    }


def report(title: str, results: dict[int, dict]) -> None:
    print(title)
    base = results[min(results)]["rate"]
    for clusters, r in results.items():
        print(
            f"  {clusters} cluster{'s' if clusters > 1 else ' '}  {r['objects']:5d} objects "
            f"{r['wall']:7.1f} s  {r['rate']:7.1f} objects/s  ratio {r['rate'] / base:5.2f}  "
            f"peak in flight per credential {r['peak']:3d}  requests/object "
            f"{r['requests'] / r['objects']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--clusters", default="1,2,4")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="added by the sandbox to every request"
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        # A throwaway PostgreSQL for this run; this script again, inside it.
        script = str(ROOT / "scripts" / "with-postgres")
        os.execv(script, [script, sys.executable, *sys.argv])
    counts = [int(n) for n in args.clusters.split(",")]
    configure()
    from tests.sandbox import RallySandbox

    with RallySandbox() as sandbox:
        if args.latency_ms:
            latency = [{"kind": "latency", "ms": args.latency_ms}]
            sandbox.admin("POST", "/sandbox-admin/faults", json=latency)
        integrations = build_integrations(sandbox, 3)
        one = {n: measure(sandbox, integrations[:1], args.features, n, f"one{n}") for n in counts}
        three = {
            n: measure(sandbox, integrations, args.features // 3, n, f"three{n}") for n in counts
        }
    print(f"PostgreSQL, sandbox on this machine ({os.cpu_count()} CPUs), 2 workers a cluster")
    report(f"one integration, {args.features} features:", one)
    report(f"three integrations (three Rally users), {args.features // 3} features each:", three)


if __name__ == "__main__":
    main()
