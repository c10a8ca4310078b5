"""Bulk send through the real task cluster to the Rally sandbox: throughput against Rally's
limit, and aharally's own cost per created object.

    .venv/bin/python bench/send.py [--features 200] [--requirements 2] [--latency-ms 1000]
                                   [--plain] [--latency-runs 0]

Builds a throwaway SQLite database and a fresh sandbox, sends N features with M requirements
each (N * (1 + M) Rally objects) through `manage.py qcluster`, and prints, next to each goal:
- objects per second, and with `--latency-ms` (the sandbox's latency fault on every API
  request) the fraction of Rally's limit, 12 in flight / latency;
- the average and peak requests in flight at the sandbox (its own stats, per credential);
- HTTP requests per created object (the sandbox's count);
- CPU per created object of the cluster's processes and of the sandbox's (/proc, user+system),
  the sandbox's split into answering the requests and delivering the webhook each create
  fires (its delivery thread's own CPU, counted until every delivery is done). The webhooks go
  to a receiver in this process that answers 200, as aharally's would (its CPU is not
  counted: the figures are of the send). A catch-up that ran wholly inside the send (the
  minute's, or `--catch-up-after`'s) is in the cluster's CPU; its stored result says its
  own CPU, which is printed apart, and the goals and `cpu_ms_per_object` are of the send's
  own CPU, without it (the sandbox's answering of its handful of queries stays in the
  sandbox's figure);
- SQL statements per created object: a second, smaller bulk send (`--sql-features`) through
  the same drain run in this process, counted on every connection its threads open.
- with `--catch-up-after S`, how long a catch-up asked for S seconds into the send (as a
  webhook's delivery asks for one) took to end, beside the send that keeps the request slots;
`--plain` also times a loop of bare `requests` creating the same objects 12 at a time, and
`--latency-runs` the Send click → link stored for one feature (bench/click.py is the one to use
for that). The last line is the figures as JSON. The machine is noisy: compare counts and
ratios.
"""

from __future__ import annotations

import argparse
import json
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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 5

# The goals of issue 22 (send).
GOAL_SQL_PER_OBJECT = 8
GOAL_CPU_MS_PER_OBJECT = 5
GOAL_CPU_SHARE_OF_SANDBOX = 0.25
GOAL_AVG_IN_FLIGHT = 11
GOAL_FRACTION_OF_LIMIT = 0.9


def configure(database: Path, *, site_url: str | None = None) -> None:
    os.environ["AHARALLY_TESTING"] = "true"
    if site_url:
        # Where the integration registers its webhook: a receiver, not a port nobody listens
        # on (the sandbox would retry each delivery for minutes, on the sandbox's CPU).
        os.environ["SITE_URL"] = site_url
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
    # The cache (a database table unless REDIS_URL is set) holds the catch-up's flags.
    call_command("createcachetable", verbosity=0)


def build(workspace, features: int, requirements: int, *, prefix: str):
    from aharally.records.services import create_feature, create_requirement
    from tests.factories import parking_lot

    lot = parking_lot(workspace)
    made = []
    for n in range(features):
        feature = create_feature(workspace=workspace, name=f"{prefix} feature {n}", release=lot)
        for r in range(requirements):
            create_requirement(feature=feature, name=f"{prefix} story {n}.{r}")
        made.append(feature)
    return made


def people():
    from django.contrib.auth import get_user_model

    from aharally.records.services import create_workspace
    from aharally.workspaces.models import Membership, Role

    User = get_user_model()
    owner = User.objects.create_user(username="o", email="owner@example.com", password="x")
    workspace = create_workspace(name="Bench", prefix="BENCH", owner=owner)
    contributor = User.objects.create_user(username="c", email="c@example.com", password="x")
    Membership.objects.create(workspace=workspace, user=contributor, role=Role.CONTRIBUTOR)
    return workspace, owner, contributor


def wait_for(condition, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("Timed out")
        time.sleep(0.05)


def cpu_seconds(pids) -> float:
    """User + system CPU of these processes (and of their children they have waited for)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone: a worker recycled by the cluster takes its CPU with it
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def thread_cpu_seconds(thread: dict) -> float:
    """User + system CPU of one thread (`{"pid", "tid"}`) of a process."""
    stat = Path(f"/proc/{thread['pid']}/task/{thread['tid']}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def deliveries(sandbox) -> dict:
    return sandbox.admin("GET", "/sandbox-admin/webhook-deliveries/summary").json()


def set_latency(sandbox, ms: int) -> None:
    sandbox.admin("DELETE", "/sandbox-admin/faults")
    if ms:
        fault = {"kind": "latency", "ms": ms, "count": None, "match": {"path_contains": "/slm/"}}
        sandbox.admin("POST", "/sandbox-admin/faults", json=fault)


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


def sql_per_object(workspace, integration, contributor, *, features: int, requirements: int):
    """Statements of a bulk send drained in this process, on every connection it opens."""
    from aharally.sync.models import Link
    from aharally.sync.outgoing.drain import drain_outbox
    from aharally.sync.web.jobs import start_job
    from tests.sqlcount import CountingStatements

    made = build(workspace, features, requirements, prefix="Counted")
    before = Link.objects.count()
    start_job(records=made, integration=integration, user=contributor, label="counted")
    with CountingStatements() as counted:
        drain_outbox(integration.pk)
    objects = Link.objects.count() - before
    assert objects == features * (1 + requirements), objects
    return counted.total / objects, counted.by_kind, objects


def catch_up_during(integration, after: float) -> float | None:
    """Ask for a catch-up `after` seconds into the send; how long it took to end from then,
    in seconds (the cluster's record of its task)."""
    from django.db import connection
    from django_q.models import Task

    from aharally.sync.enqueue import PULL
    from aharally.sync.incoming.catchup import request_catch_up

    try:
        if after <= 0:
            return None
        time.sleep(after)
        asked = time.time()
        before = set(Task.objects.filter(func=PULL).values_list("id", flat=True))
        request_catch_up(integration.pk)

        def ran():
            return Task.objects.filter(func=PULL).exclude(id__in=before).first()

        wait_for(ran, timeout=600)
        return ran().stopped.timestamp() - asked
    finally:
        connection.close()


def catch_ups_within(start: float, end: float) -> tuple[int, float]:
    """The catch-ups that ran wholly between `start` and `end` (epoch seconds), and their CPU
    in seconds, as each one's stored result says it (`run_catch_up`)."""
    from datetime import UTC, datetime

    from django.db import connection
    from django_q.models import Task

    from aharally.sync.enqueue import PULL

    try:
        ran = Task.objects.filter(
            func=PULL,
            started__gte=datetime.fromtimestamp(start, UTC),
            stopped__lte=datetime.fromtimestamp(end, UTC),
        )
        cpu = [task.result.get("cpu_ms", 0) for task in ran if isinstance(task.result, dict)]
        return len(cpu), sum(cpu) / 1000
    finally:
        connection.close()


def check(value, goal, *, at_most: bool) -> str:
    if value is None:
        return ""
    met = value <= goal if at_most else value >= goal
    return f"goal {'≤' if at_most else '≥'} {goal}: {'met' if met else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--requirements", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--sql-features", type=int, default=100)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--latency-runs", type=int, default=0)
    parser.add_argument("--catch-up-after", type=float, default=0.0)
    args = parser.parse_args()
    from tests.rally_sandbox.webhooks.support import Receiver

    receiver = Receiver()
    receiver.thread.start()
    with tempfile.TemporaryDirectory(prefix="aharally-bench-") as tmp:
        configure(Path(tmp) / "bench.sqlite3", site_url=receiver.url)
        from aharally.sync.models import Link
        from aharally.sync.web.jobs import start_job
        from tests.sandbox import RallySandbox
        from tests.sync.cluster import TaskCluster, process_tree
        from tests.sync.support import connect, scope_of

        with RallySandbox() as sandbox:
            workspace, owner, contributor = people()
            features = build(workspace, args.features, args.requirements, prefix="Bench")
            integration = connect(workspace, sandbox, owner=owner)
            total = args.features * (1 + args.requirements)
            cluster = TaskCluster(env={"SYNC_DRAIN_BUDGET_SECONDS": "90"}).start()
            try:
                time.sleep(3)  # let the cluster's workers start
                set_latency(sandbox, args.latency_ms)
                cluster_pids = process_tree(cluster.process.pid)
                sandbox_pids = process_tree(sandbox._process.pid)
                # What the cluster spends doing nothing (its broker's polls, its schedules).
                idle_cpu = cpu_seconds(cluster_pids)
                time.sleep(IDLE_SECONDS)
                idle_rate = (cpu_seconds(cluster_pids) - idle_cpu) / IDLE_SECONDS
                sandbox.admin("POST", "/sandbox-admin/stats/reset")
                delivered = deliveries(sandbox)["delivered"]
                delivery_thread = deliveries(sandbox)["delivery_thread"]
                cluster_cpu, sandbox_cpu = cpu_seconds(cluster_pids), cpu_seconds(sandbox_pids)
                delivering = thread_cpu_seconds(delivery_thread)
                started, window_start = time.perf_counter(), time.time()
                start_job(records=features, integration=integration, user=contributor, label="b")
                asker = ThreadPoolExecutor(1)
                catch_up = asker.submit(catch_up_during, integration, args.catch_up_after)
                wait_for(lambda: Link.objects.count() >= total)
                wall = time.perf_counter() - started
                cluster_cpu = cpu_seconds(cluster_pids) - cluster_cpu
                window_end = time.time()
                sandbox_cpu = cpu_seconds(sandbox_pids) - sandbox_cpu
                # Delivering runs on beside answering, and on after the last answer.
                answering = sandbox_cpu - (thread_cpu_seconds(delivery_thread) - delivering)
                stats = sandbox.admin("GET", "/sandbox-admin/stats").json()
                catch_up_ran = catch_up.result()  # after the CPU's count: it may end later
                catch_ups, catch_up_cpu = catch_ups_within(window_start, window_end)
                asker.shutdown()
                wait_for(lambda: deliveries(sandbox)["delivered"] - delivered >= total, 600)
                delivering = thread_cpu_seconds(delivery_thread) - delivering
                latencies = send_latency(workspace, contributor, integration, args.latency_runs)
            finally:
                cluster.stop()
            set_latency(sandbox, 0)
            sql, sql_kinds, sql_objects = sql_per_object(
                workspace,
                integration,
                contributor,
                features=args.sql_features,
                requirements=args.requirements,
            )
            plain = None
            if args.plain:
                set_latency(sandbox, args.latency_ms)
                _, project_oid = scope_of(sandbox)
                plain = plain_loop(sandbox, project_oid, args.features, args.requirements)
    rate = total / wall
    limit = CONCURRENCY / (args.latency_ms / 1000) if args.latency_ms else None
    fraction = rate / limit if limit else None
    avg_in_flight = max(stats.get("avg_in_flight", {}).values(), default=0)
    peak = max(stats["max_concurrent"].values(), default=0)
    catch_up_ms = 1000 * catch_up_cpu / total
    cpu_ms = 1000 * cluster_cpu / total - catch_up_ms
    net_ms = cpu_ms - 1000 * idle_rate * wall / total
    sandbox_ms = 1000 * answering / total
    webhook_ms = 1000 * delivering / total
    share = cpu_ms / sandbox_ms if sandbox_ms else None
    print(
        f"bulk send: {args.features} features * (1 + {args.requirements}) = {total} objects, "
        f"sandbox latency {args.latency_ms} ms a request"
    )
    print(f"  wall time             {wall:8.1f} s")
    print(f"  objects per second    {rate:8.2f}")
    if limit:
        print(
            f"  fraction of the limit {fraction:8.3f}  (12 in flight / {args.latency_ms} ms = "
            f"{limit:.1f} objects/s; {check(fraction, GOAL_FRACTION_OF_LIMIT, at_most=False)})"
        )
    goal = check(avg_in_flight, GOAL_AVG_IN_FLIGHT, at_most=False) if limit else ""
    print(f"  average in flight     {avg_in_flight:8.2f}  {goal}")
    print(f"  peak in flight        {peak:8d}  (Rally allows 12)")
    print(
        f"  requests per object   {stats['requests'] / total:8.3f}  ({stats['requests']} requests)"
    )
    cpu_goal = check(cpu_ms, GOAL_CPU_MS_PER_OBJECT, at_most=True)
    print(f"  cluster CPU per object {cpu_ms:7.2f} ms  {cpu_goal}")
    if catch_ups:
        print(
            f"    without {catch_ups} catch-up(s) that ran inside the send: "
            f"{catch_up_ms:.2f} ms more ({1000 * catch_up_cpu:.0f} ms of CPU, their own count)"
        )
    print(
        f"  of which idle          {cpu_ms - net_ms:7.2f} ms  (the cluster idle: "
        f"{1000 * idle_rate:.0f} ms of CPU a second over {wall:.0f} s); net {net_ms:.2f} ms"
    )
    print(f"  sandbox CPU per object {sandbox_ms:7.2f} ms  answering its request")
    print(f"    and delivering its webhook {webhook_ms:.2f} ms more ({total} deliveries)")
    if share is not None:
        share_goal = check(round(share, 3), GOAL_CPU_SHARE_OF_SANDBOX, at_most=True)
        print(f"  cluster / sandbox CPU  {share:7.3f}     {share_goal} (of answering alone)")
        print(f"    of answering and delivering {cpu_ms / (sandbox_ms + webhook_ms):.3f}")
    kinds = ", ".join(f"{kind} {n / sql_objects:.2f}" for kind, n in sql_kinds.most_common())
    print(
        f"  SQL per object        {sql:8.2f}  ({check(sql, GOAL_SQL_PER_OBJECT, at_most=True)}; "
        f"{sql_objects} objects drained in-process: {kinds})"
    )
    if plain is not None:
        print(f"plain loop, same objects, {CONCURRENCY} in flight: {plain:.1f} s")
        print(f"  ratio bulk send / plain loop  {wall / plain:6.2f}")
    if catch_up_ran is not None:
        print(
            f"  a catch-up asked {args.catch_up_after:.0f} s into the send ended "
            f"{catch_up_ran:.1f} s later (the send ended {wall - args.catch_up_after:.1f} s later)"
        )
    if latencies:
        print(
            f"Send click → link stored (automatic sending), median of {len(latencies)}: "
            f"{statistics.median(latencies) * 1000:.0f} ms (min {min(latencies) * 1000:.0f}, "
            f"max {max(latencies) * 1000:.0f})"
        )
    figures = {
        "objects": total,
        "objects_per_s": round(rate, 2),
        "fraction_of_limit": round(fraction, 3) if fraction is not None else None,
        "avg_in_flight": round(avg_in_flight, 2),
        "requests_per_object": round(stats["requests"] / total, 3),
        "sql_per_object": round(sql, 2),
        "cpu_ms_per_object": round(cpu_ms, 2),
        "catch_up_cpu_ms_per_object": round(catch_up_ms, 2),
        "sandbox_cpu_ms_per_object": round(sandbox_ms, 2),
        "sandbox_webhook_cpu_ms_per_object": round(webhook_ms, 2),
        "catch_up_during_send_s": round(catch_up_ran, 1) if catch_up_ran is not None else None,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
