"""The catch-up over many changed stories, against merely paging the same query.

    .venv/bin/python bench/pull.py [--stories 10000] [--repeat 3] [--profile FILE]

Builds a throwaway SQLite database and a fresh sandbox, sends a feature per 200 stories,
creates N stories under them in the sandbox (through /batch, 50 a request), links each to a
requirement in aharally whose baseline differs from Rally's name (so the catch-up applies every
one; the posts and files already on their artifacts count as read, as for links made long
ago), then prints:
- the catch-up's wall time, records per second and its Rally requests (pages of 2,000), and
  how much of it the catch-up's thread waited for Rally's answers (reading and decoding);
- the time to page the same query with bare `requests`, and the ratio;
- per applied record: SQL statements and aharally CPU (this process: the sandbox is another);
- the catch-up's RSS growth against the size of one page of records (parsed, and as JSON);
each next to its goal (issue 22), and last one line of JSON with the first run's figures.
`--repeat N` runs the catch-up N times over the same stories (records and links put back
between runs), each with its own plain paging right after it, and prints the range of each
figure (the RSS growth is the first run's: later runs reuse memory the first one kept).
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
    parser.add_argument(
        "--repeat", type=int, default=1, help="catch-ups over the same stories (ranges)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aharally-bench-") as tmp:
        configure(Path(tmp) / "bench.sqlite3")
        import requests
        from django.contrib.auth import get_user_model
        from django.utils import timezone

        from aharally.records.models import Requirement
        from aharally.records.services import create_feature, create_workspace
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
            _discussion_seen(integration)

            runs = []
            for run in range(args.repeat):
                if run:
                    _reset(integration, requirements)
                runs.append(
                    _catch_up(
                        integration,
                        sandbox,
                        session,
                        project,
                        profile=args.profile if run == 0 else None,
                    )
                )
            page_kib = _one_page_kib(integration)
            page_bytes = _one_page_bytes(session, sandbox, integration, project)
    first = runs[0]
    counts, wall = first["counts"], first["wall"]
    print(f"catch-up over {args.stories} changed stories (first of {len(runs)} runs):")
    print(f"  wall time           {wall:8.1f} s")
    print(
        f"  records per second  {counts['read'] / wall:8.1f}  ({counts['read']} records, "
        f"{counts['applied']} fields applied)"
    )
    pages = -(-args.stories // 2000)
    print(
        f"  Rally requests      {first['requests']:8d}  (pages: {counts.get('pages')}; "
        f"ceil({args.stories} / 2000) = {pages} for the stories, the rest is constant)"
    )
    print(
        f"  where the wall time goes: {first['waited']:.2f} s waiting for Rally's answers "
        f"(of which {first['decoding']:.2f} s decoding JSON), the rest applying"
    )
    print(f"plain paging of the same query with requests: {first['plain']:.1f} s")
    for run in runs:
        records = max(run["counts"]["read"], 1)
        run["figures"] = {
            "records": run["counts"]["read"],
            "ratio_to_paging": round(run["wall"] / run["plain"], 2),
            "sql_per_record": round(run["statements"] / records, 3),
            "cpu_ms_per_record": round(run["cpu"] * 1000 / records, 3),
            "rss_growth_mib": round(run["rss_growth"] / 1024, 1),
        }
    figures = first["figures"]

    def spread(key: str) -> str:
        values = sorted(run["figures"][key] for run in runs)
        return f"   (runs: {values[0]} to {values[-1]})" if len(values) > 1 else ""

    print(
        f"  ratio catch-up / plain paging  {figures['ratio_to_paging']:6.2f}   (goal: <= 2)"
        + spread("ratio_to_paging")
    )
    print(
        f"  SQL statements per record  {figures['sql_per_record']:6.3f}   (goal: <= 1.5; "
        f"{first['statements']} in all)" + spread("sql_per_record")
    )
    print(
        f"  aharally CPU per record    {figures['cpu_ms_per_record']:6.3f} ms (goal: <= 0.4 ms; "
        f"{first['cpu']:.1f} s in all)" + spread("cpu_ms_per_record")
    )
    # Only the first run's: the later ones reuse memory the first one's allocator kept.
    print(
        f"  RSS growth                 {figures['rss_growth_mib']:6.1f} MiB (goal: <= one page "
        f"of records: {page_kib / 1024:.1f} MiB as parsed, {page_bytes / 2**20:.1f} MiB of JSON)"
    )
    print(json.dumps(figures))


def _catch_up(integration, sandbox, session, project, *, profile: str | None) -> dict:
    """One catch-up, measured, then plain paging of the same query (its baseline)."""
    from django.db import connection

    from aharally.rally import paging, stream
    from aharally.sync.incoming.pull import pull_updates

    sandbox.admin("POST", "/sandbox-admin/stats/reset")
    statements = _Counter()
    clock = {"waited": 0.0, "decoding": 0.0}
    streamed_pages, objects = paging.QueryResults.streamed_pages, paging.StreamedPage.objects
    decoder = stream._DECODER

    def timed(generator):
        # The catch-up's own thread waiting for the next page or object (reading, decoding).
        def waiting(*args, **kwargs):
            iterator = generator(*args, **kwargs)
            try:
                while True:
                    started = time.perf_counter()
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                    finally:
                        clock["waited"] += time.perf_counter() - started
                    yield item
                    del item  # held no longer than the caller holds it
            finally:
                iterator.close()

        return waiting

    class TimedDecoder(json.JSONDecoder):
        def raw_decode(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return super().raw_decode(*args, **kwargs)
            finally:
                clock["decoding"] += time.perf_counter() - started

    paging.QueryResults.streamed_pages = timed(streamed_pages)
    paging.StreamedPage.objects = timed(objects)
    stream._DECODER = TimedDecoder()
    rss_before = _reset_peak_rss()
    cpu = time.process_time()
    started = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    try:
        with connection.execute_wrapper(statements):
            if profiler:
                profiler.enable()
            counts = pull_updates(integration.pk)
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
    finally:
        paging.QueryResults.streamed_pages, paging.StreamedPage.objects = streamed_pages, objects
        stream._DECODER = decoder
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    rss_growth = _status_kib("VmHWM") - rss_before
    stats = sandbox.admin("GET", "/sandbox-admin/stats").json()

    started = time.perf_counter()
    start, total = 1, None
    while total is None or start <= total:
        page = session.get(
            f"{sandbox.wsapi_url}/hierarchicalrequirement",
            params={**_query(integration, project), "start": start},
            timeout=120,
        ).json()["QueryResult"]
        total = page["TotalResultCount"]
        start += 2000
    plain = time.perf_counter() - started
    return {
        "counts": counts,
        "wall": wall,
        "cpu": cpu,
        "statements": statements.count,
        "rss_growth": rss_growth,
        "requests": stats["requests"],
        "plain": plain,
        **clock,
    }


def _query(integration, project) -> dict:
    return {
        "query": '(LastUpdateDate > "2000-01-01T00:00:00.000Z")',
        "fetch": "ObjectID,FormattedID,LastUpdateDate,Project,Name,Description,"
        "ScheduleState,PlanEstimate,PortfolioItem",
        "order": "LastUpdateDate",
        "workspace": f"/workspace/{integration.rally_workspace_oid}",
        "project": f"/project/{project}",
        "projectScopeDown": "true",
        "pagesize": 2000,
    }


def _reset(integration, requirements) -> None:
    """Puts the stories' records (as seeded: `requirements`) and links back, so the next run
    applies every one again (the cursor too: it reads them all again)."""
    from aharally.records.models import Requirement
    from aharally.sync.models import Link, PullCursor

    fields = [f.name for f in Requirement._meta.concrete_fields if not f.primary_key]
    Requirement.objects.bulk_update(requirements, fields, batch_size=200)
    by_record = {requirement.pk: requirement.name for requirement in requirements}
    links = list(Link.objects.filter(integration=integration, record_type="requirement"))
    for link in links:
        link.baseline, link.rally_version = {"name": by_record[link.record_id]}, None
    Link.objects.bulk_update(links, ["baseline", "rally_version"], batch_size=500)
    PullCursor.objects.filter(integration=integration).update(cursors={})
    _discussion_seen(integration)


def _discussion_seen(integration) -> None:
    """The seeded links stand for links made long ago: the posts and files already on their
    artifacts were read by an earlier catch-up (else this one would read them first, 100
    artifacts a request, which is linking's cost, not the catch-up's of changed stories)."""
    from aharally.sync.incoming.discussion import LINKS_SEEN
    from aharally.sync.models import Link, PullCursor

    newest = Link.objects.filter(integration=integration).order_by("-pk").first()
    row, _ = PullCursor.objects.get_or_create(integration=integration)
    row.cursors = {**row.cursors, LINKS_SEEN: newest.pk}
    row.save(update_fields=["cursors"])


def _one_page_bytes(session, sandbox, integration, project) -> int:
    """What one page of the query weighs as JSON text."""
    answer = session.get(
        f"{sandbox.wsapi_url}/hierarchicalrequirement",
        params={**_query(integration, project), "start": 1},
        timeout=120,
    )
    return len(answer.content)


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
