"""Bulk send through the real task cluster to the Rally sandbox, against a plain loop.

    .venv/bin/python bench/send.py [--features 1000] [--requirements 2] [--latency-runs 20]

Builds a throwaway SQLite database and a fresh sandbox, sends N features with M requirements
each (N * (1 + M) Rally objects) through `manage.py qcluster`, and prints:
- wall time and objects per second of the bulk send;
- HTTP requests per created object (the sandbox's own count);
- the ratio of that wall time to a plain loop that creates the same objects with `requests`
  and the same concurrency (12 in flight), in the same run;
- the time from the Send click's POST to the link being stored, for one feature with automatic
  sending (median of 20).
Numbers vary with the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONCURRENCY = 12


def configure(database: Path) -> None:
    os.environ["AHARALLY_TESTING"] = "true"
    os.environ["DEBUG"] = "false"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aharally.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0, interactive=False)


def build(features: int, requirements: int):
    from django.contrib.auth import get_user_model

    from aharally.records.services import create_feature, create_requirement, create_workspace
    from aharally.workspaces.models import Membership, Role
    from tests.factories import parking_lot

    User = get_user_model()
    owner = User.objects.create_user(username="o", email="owner@example.com", password="x")
    workspace = create_workspace(name="Bench", prefix="BENCH", owner=owner)
    contributor = User.objects.create_user(username="c", email="c@example.com", password="x")
    Membership.objects.create(workspace=workspace, user=contributor, role=Role.CONTRIBUTOR)
    lot = parking_lot(workspace)
    made = []
    for n in range(features):
        feature = create_feature(workspace=workspace, name=f"Bench feature {n}", release=lot)
        for r in range(requirements):
            create_requirement(feature=feature, name=f"Bench story {n}.{r}")
        made.append(feature)
    return workspace, owner, contributor, made


def wait_for(condition, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("Timed out")
        time.sleep(0.05)


def plain_loop(sandbox, project_oid: int, features: int, requirements: int) -> float:
    """The same objects created with bare `requests`, 12 at a time: the floor to compare to."""
    import requests

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY)
    session.mount("http://", adapter)
    session.headers["ZSESSIONID"] = sandbox.api_key
    url = sandbox.wsapi_url

    def create(type_path: str, fields: dict) -> str:
        response = session.post(
            f"{url}/{type_path.lower()}/create",
            params={"fetch": "ObjectID,FormattedID"},
            json={type_path: fields},
            timeout=60,
        )
        return response.json()["CreateResult"]["Object"]["_ref"]

    project = {"_ref": f"/project/{project_oid}"}
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        refs = list(
            pool.map(
                lambda n: create(
                    "PortfolioItem/Feature", {"Name": f"Plain feature {n}", "Project": project}
                ),
                range(features),
            )
        )
        list(
            pool.map(
                lambda pair: create(
                    "HierarchicalRequirement",
                    {
                        "Name": f"Plain story {pair[1]}",
                        "Project": project,
                        "PortfolioItem": pair[0],
                    },
                ),
                [(ref, r) for ref in refs for r in range(requirements)],
            )
        )
    return time.perf_counter() - started


def send_latency(workspace, contributor, integration, runs: int) -> list[float]:
    """POST Send to Rally (the real view) → the link stored, one feature at a time."""
    from django.test import Client

    from aharally.records.services import create_feature
    from aharally.sync.models import Link
    from tests.factories import parking_lot

    client = Client()
    client.force_login(contributor)
    timings = []
    for n in range(runs):
        feature = create_feature(
            workspace=workspace, name=f"Latency {n}", release=parking_lot(workspace)
        )
        url = f"/w/{workspace.prefix}/sync/feature/{feature.pk}/send/"
        started = time.perf_counter()
        response = client.post(url, {"integration": integration.pk}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, response.content[:300]
        wait_for(lambda pk=feature.pk: Link.objects.filter(record_id=pk).exists(), timeout=60)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--requirements", type=int, default=2)
    parser.add_argument("--latency-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aharally-bench-") as tmp:
        configure(Path(tmp) / "bench.sqlite3")
        from aharally.sync.models import Link
        from aharally.sync.web.jobs import start_job
        from tests.sandbox import RallySandbox
        from tests.sync.cluster import TaskCluster
        from tests.sync.support import connect, scope_of

        with RallySandbox() as sandbox:
            workspace, owner, contributor, features = build(args.features, args.requirements)
            integration = connect(workspace, sandbox, owner=owner)
            total = args.features * (1 + args.requirements)
            cluster = TaskCluster(env={"SYNC_DRAIN_BUDGET_SECONDS": "90"}).start()
            try:
                time.sleep(3)  # let the cluster's workers start
                sandbox.admin("POST", "/sandbox-admin/stats/reset")
                started = time.perf_counter()
                start_job(records=features, integration=integration, user=contributor, label="b")
                wait_for(lambda: Link.objects.count() >= total)
                wall = time.perf_counter() - started
                stats = sandbox.admin("GET", "/sandbox-admin/stats").json()
                _, project_oid = scope_of(sandbox)
                plain = plain_loop(sandbox, project_oid, args.features, args.requirements)
                latencies = send_latency(workspace, contributor, integration, args.latency_runs)
            finally:
                cluster.stop()
    print(f"bulk send: {args.features} features * (1 + {args.requirements}) = {total} objects")
    print(f"  wall time             {wall:8.1f} s")
    print(f"  objects per second    {total / wall:8.1f}")
    print(
        f"  requests per object   {stats['requests'] / total:8.3f}  ({stats['requests']} requests)"
    )
    print(f"  peak in flight        {max(stats['max_concurrent'].values(), default=0):8d}")
    print(f"plain loop, same objects, {CONCURRENCY} in flight: {plain:.1f} s")
    print(f"  ratio bulk send / plain loop  {wall / plain:6.2f}")
    print(
        f"Send click → link stored (automatic sending), median of {len(latencies)}: "
        f"{statistics.median(latencies) * 1000:.0f} ms (min {min(latencies) * 1000:.0f}, "
        f"max {max(latencies) * 1000:.0f})"
    )


if __name__ == "__main__":
    main()
