"""The catch-up over many changed stories, against merely paging the same query.

    .venv/bin/python bench/pull.py [--stories 10000]

Builds a throwaway SQLite database and a fresh sandbox, sends a feature per 200 stories,
creates N stories under them in the sandbox (through /batch, 50 a request), links each to a
requirement in aharally whose baseline differs from Rally's name (so the catch-up applies every
one), then prints:
- the catch-up's wall time, records per second and its Rally requests (pages of 2,000);
- the time to page the same query with bare `requests`, and the ratio;
- per applied record: SQL statements and aharally CPU (this process: the sandbox is another);
- the catch-up's RSS growth against the size of one page of records;
each next to its goal (issue 22), and last one line of JSON with those figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from send import configure  # noqa: E402

BATCH = 50  # creates per /batch request: well inside the sandbox's worker timeout
STORIES_A_FEATURE = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--profile", metavar="FILE", help="write the catch-up's cProfile here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aharally-bench-") as tmp:
        configure(Path(tmp) / "bench.sqlite3")
        import requests
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.utils import timezone

        from aharally.records.models import Requirement
        from aharally.records.services import create_feature, create_workspace
        from aharally.sync.incoming.pull import pull_updates
        from aharally.sync.models import Link
        from aharally.sync.outgoing import outbox
        from aharally.sync.outgoing.drain import drain_outbox
        from tests.factories import parking_lot
        from tests.sandbox import RallySandbox
        from tests.sync.support import connect, scope_of

        with RallySandbox() as sandbox:
            owner = get_user_model().objects.create_user(
                username="o", email="owner@example.com", password="x"
            )
            workspace = create_workspace(name="Bench", prefix="BENCH", owner=owner)
            integration = connect(workspace, sandbox, owner=owner)
            # Stories spread over features, STORIES_A_FEATURE each, as real backlogs are: the
            # sandbox recomputes a feature's roll-ups from all its stories on every write.
            features = [
                create_feature(
                    workspace=workspace, name=f"Bench feature {n}", release=parking_lot(workspace)
                )
                for n in range(-(-args.stories // STORIES_A_FEATURE))
            ]
            for feature in features:
                outbox.request_send(record=feature, integration=integration, user=owner)
            drain_outbox(integration.pk)
            feature_oids = dict(
                Link.objects.filter(record_type="feature").values_list("record_id", "rally_oid")
            )
            _, project = scope_of(sandbox)

            session = requests.Session()
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=12))
            session.headers["ZSESSIONID"] = sandbox.api_key

            def feature_of(n: int):
                return features[n // STORIES_A_FEATURE]

            def create(first: int) -> list[int]:
                # Rally's /batch takes many creates in one request; seeding is not measured.
                numbers = range(first, min(first + BATCH, args.stories))
                answer = session.post(
                    f"{sandbox.wsapi_url}/batch",
                    params={"fetch": "ObjectID", "project": f"/project/{project}"},
                    json={
                        "Batch": [
                            {
                                "Entry": {
                                    "Path": "/hierarchicalrequirement/create",
                                    "Method": "PUT",
                                    "Body": {
                                        "hierarchicalrequirement": {
                                            "Name": f"Story {n}",
                                            "Project": {"_ref": f"/project/{project}"},
                                            "PortfolioItem": {
                                                "_ref": "/portfolioitem/feature/"
                                                f"{feature_oids[feature_of(n).pk]}"
                                            },
                                        }
                                    },
                                }
                            }
                            for n in numbers
                        ]
                    },
                    timeout=600,
                )
                answer.raise_for_status()
                results = answer.json()["BatchResult"]["Results"]
                return [result["Object"]["ObjectID"] for result in results]

            started = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                batches = pool.map(create, range(0, args.stories, BATCH))
                oids = [oid for batch in batches for oid in batch]
            print(f"created {len(oids)} stories in Rally in {time.perf_counter() - started:.0f} s")

            requirements = Requirement.objects.bulk_create(
                Requirement(
                    workspace=workspace,
                    feature=feature_of(n),
                    name=f"Old name {n}",
                    number=n + 1,
                    reference=f"{feature_of(n).reference}-{n + 1}",
                    rank=float(n),
                )
                for n in range(len(oids))
            )
            Link.objects.bulk_create(
                Link(
                    integration=integration,
                    record_type="requirement",
                    record_id=requirement.pk,
                    rally_type="HierarchicalRequirement",
                    rally_oid=oid,
                    url=f"{sandbox.base_url}/#/detail/userstory/{oid}",
                    baseline={"name": requirement.name},
                )
                for requirement, oid in zip(requirements, oids, strict=True)
            )
            type(integration).objects.filter(pk=integration.pk).update(
                first_sent_at=timezone.now() - timezone.timedelta(minutes=30)
            )

            sandbox.admin("POST", "/sandbox-admin/stats/reset")
            statements = _Counter()
            rss_before = _reset_peak_rss()
            cpu = time.process_time()
            started = time.perf_counter()
            profile = cProfile.Profile() if args.profile else None
            with connection.execute_wrapper(statements):
                if profile:
                    profile.enable()
                counts = pull_updates(integration.pk)
                if profile:
                    profile.disable()
                    profile.dump_stats(args.profile)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            rss_growth = _status_kib("VmHWM") - rss_before
            stats = sandbox.admin("GET", "/sandbox-admin/stats").json()

            started = time.perf_counter()
            start, total = 1, None
            while total is None or start <= total:
                page = session.get(
                    f"{sandbox.wsapi_url}/hierarchicalrequirement",
                    params={
                        "query": '(LastUpdateDate > "2000-01-01T00:00:00.000Z")',
                        "fetch": "ObjectID,FormattedID,LastUpdateDate,Project,Name,Description,"
                        "ScheduleState,PlanEstimate,PortfolioItem",
                        "order": "LastUpdateDate",
                        "workspace": f"/workspace/{integration.rally_workspace_oid}",
                        "project": f"/project/{project}",
                        "projectScopeDown": "true",
                        "start": start,
                        "pagesize": 2000,
                    },
                    timeout=120,
                ).json()["QueryResult"]
                total = page["TotalResultCount"]
                start += 2000
            plain = time.perf_counter() - started
            page_kib = _one_page_kib(integration)
    print(f"catch-up over {args.stories} changed stories:")
    print(f"  wall time           {wall:8.1f} s")
    print(
        f"  records per second  {counts['read'] / wall:8.1f}  ({counts['read']} records, "
        f"{counts['applied']} fields applied)"
    )
    pages = -(-args.stories // 2000)
    print(
        f"  Rally requests      {stats['requests']:8d}  (pages: {counts.get('pages')}; "
        f"ceil({args.stories} / 2000) = {pages} for the stories, the rest is constant)"
    )
    print(f"plain paging of the same query with requests: {plain:.1f} s")
    records = max(counts["read"], 1)
    figures = {
        "records": counts["read"],
        "ratio_to_paging": round(wall / plain, 2),
        "sql_per_record": round(statements.count / records, 3),
        "cpu_ms_per_record": round(cpu * 1000 / records, 3),
        "rss_growth_mib": round(rss_growth / 1024, 1),
    }
    print(f"  ratio catch-up / plain paging  {figures['ratio_to_paging']:6.2f}   (goal: <= 2)")
    print(
        f"  SQL statements per record  {figures['sql_per_record']:6.3f}   (goal: <= 1.5; "
        f"{statements.count} in all)"
    )
    print(
        f"  aharally CPU per record    {figures['cpu_ms_per_record']:6.3f} ms (goal: <= 0.4 ms; "
        f"{cpu:.1f} s in all)"
    )
    print(
        f"  RSS growth                 {figures['rss_growth_mib']:6.1f} MiB (goal: <= one page "
        f"of records, {page_kib / 1024:.1f} MiB as parsed)"
    )
    print(json.dumps(figures))


class _Counter:
    """A connection's execute wrapper counting statements (CaptureQueriesContext would keep
    every statement's text, and that memory would count as the catch-up's)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> int:
    """The RSS now, in KiB, with the peak (VmHWM) reset to it, so the catch-up's own peak is
    read after it (seeding peaked higher)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status_kib("VmRSS")


def _one_page_kib(integration) -> float:
    """What one page of the catch-up's story query weighs as parsed objects (tracemalloc)."""
    import tracemalloc

    from django.conf import settings

    from aharally.integrations.connection import client_for
    from aharally.integrations.templates_service import effective_config
    from aharally.rally.query import where
    from aharally.sync.mapping import project_scope

    client = client_for(integration, interactive=False)
    tracemalloc.start()
    try:
        page = client.query(
            "HierarchicalRequirement",
            query=where("LastUpdateDate", ">", "2000-01-01T00:00:00.000Z"),
            fetch=[
                "ObjectID",
                "FormattedID",
                "LastUpdateDate",
                "Project",
                "Name",
                "Description",
                "ScheduleState",
                "PlanEstimate",
                "PortfolioItem",
            ],
            order="LastUpdateDate",
            page_size=settings.SYNC_PULL_PAGE_SIZE,
            **project_scope(effective_config(integration)),
        ).first_page()
        size = tracemalloc.get_traced_memory()[0]
        del page
    finally:
        tracemalloc.stop()
        client.close()
    return size / 1024


if __name__ == "__main__":
    main()
