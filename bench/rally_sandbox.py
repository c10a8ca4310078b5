"""The Rally sandbox's own cost: a bulk send's creates and reads, then 5,000 stories over raw
HTTP and through pyral.

Run it from the repository root: `.venv/bin/python bench/rally_sandbox.py`. It starts its own
sandbox (fresh temporary database, free loopback port, stopped afterwards).

First, what a bulk send asks of it (`--features N`, default 200, each with 2 stories, created
12 at a time as aharally's drain does, with `fetch=ObjectID,FormattedID`; then reads of each
feature by ObjectID and by FormattedID): the sandbox process's CPU per request (/proc,
user+system, the whole process: request threads, gunicorn and the webhook thread) and its SQL
statements per request (the `X-Sandbox-Query-Count` header). A webhook (aharally registers
one) receives every create, on a local receiver; a create's CPU includes its delivery
(`--no-webhook` leaves it out). `--latency-ms` sets the latency
fault meanwhile (it adds no CPU). Then requests per second for creating stories one request
each and for querying them at pagesize 2000, the same work through Broadcom's pyral, and the
ratios (`--stories N` changes the count; 0 skips it). The last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sandbox import RallySandbox  # noqa: E402

PAGESIZE = 2000
CONCURRENCY = 12
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its descendants (gunicorn's worker), all threads."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:13])
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in children.read_text().split())
    return total / CLOCK_TICKS


class Receiver:
    """A webhook target on a free loopback port answering 200, as aharally's endpoint does."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receiver.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def bench_send(sandbox: RallySandbox, features: int, latency_ms: int, webhook: bool) -> dict:
    """A bulk send's requests, 12 in flight: CPU and SQL statements per request, by kind."""
    import requests

    session = sandbox.session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
    url = sandbox.wsapi_url
    platform = session.get(f"{url}/project", params={"query": '(Name = "Platform")',
                                                      "fetch": "ObjectID"}).json()  # fmt: skip
    project = {"_ref": f"/project/{platform['QueryResult']['Results'][0]['ObjectID']}"}
    pid = sandbox._process.pid
    receiver = None
    if webhook:
        # aharally registers one for its incoming sync: every create is then delivered to it.
        receiver = Receiver()
        hook = {"Name": "Bench", "TargetUrl": receiver.url, "ObjectTypes": [
            "HierarchicalRequirement", "PortfolioItem/Feature"]}  # fmt: skip
        created = session.post(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook", json=hook)
        assert created.status_code == 201, created.text
    if latency_ms:
        sandbox.admin("POST", "/sandbox-admin/faults",
                      json={"kind": "latency", "ms": latency_ms})  # fmt: skip

    def create(type_path: str, fields: dict) -> tuple[dict, int]:
        body = {type_path: {**fields, "Project": project}}
        response = session.post(f"{url}/{type_path.lower()}/create", json=body,
                                params={"fetch": "ObjectID,FormattedID"}, timeout=60)  # fmt: skip
        result = response.json()["CreateResult"]
        assert not result["Errors"], result
        return result["Object"], int(response.headers["X-Sandbox-Query-Count"])

    def read(item: dict) -> tuple[int, int]:
        by_oid = session.get(item["_ref"], params={"fetch": "ObjectID,FormattedID,Name"})
        by_id = session.get(f"{url}/portfolioitem/feature",
                            params={"query": f'(FormattedID = "{item["FormattedID"]}")',
                                    "fetch": "ObjectID,FormattedID"})  # fmt: skip
        assert by_id.json()["QueryResult"]["TotalResultCount"] == 1
        return (int(by_oid.headers["X-Sandbox-Query-Count"]),
                int(by_id.headers["X-Sandbox-Query-Count"]))  # fmt: skip

    figures: dict = {}

    def measured(kind: str, work) -> list:
        cpu, started = cpu_seconds(pid), time.perf_counter()
        before = receiver.received if receiver else 0
        results = work()
        if receiver and kind.endswith("create"):
            # The deliveries of these creates are part of their cost: wait for them.
            deadline = time.monotonic() + 60
            while receiver.received - before < len(results) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert receiver.received - before == len(results), receiver.received
        cpu, elapsed = cpu_seconds(pid) - cpu, time.perf_counter() - started
        figures[f"{kind}_cpu_ms"] = round(1000 * cpu / len(results), 2)
        print(f"  {kind:<36} {len(results):>5} in {elapsed:6.2f}s, sandbox CPU "
              f"{1000 * cpu / len(results):6.2f} ms a request")  # fmt: skip
        return results

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        print(f"A bulk send's requests, {CONCURRENCY} in flight, latency {latency_ms} ms:")
        created = measured("feature_create", lambda: list(pool.map(
            lambda n: create("PortfolioItem/Feature", {"Name": f"Bench feature {n}"}),
            range(features))))  # fmt: skip
        stories = measured("story_create", lambda: list(pool.map(
            lambda pair: create("HierarchicalRequirement", {
                "Name": f"Bench story {pair[1]}", "PortfolioItem": pair[0][0]["_ref"]}),
            [(item, n) for item in created for n in range(2)])))  # fmt: skip
        reads = measured("reads (by ObjectID + FormattedID)", lambda: list(pool.map(
            lambda item: read(item[0]), created)))  # fmt: skip
    if latency_ms:
        sandbox.admin("DELETE", "/sandbox-admin/faults")
    creates = created + stories
    figures["create_cpu_ms"] = round(
        (figures["feature_create_cpu_ms"] * len(created)
         + figures["story_create_cpu_ms"] * len(stories)) / len(creates), 2)  # fmt: skip
    figures["reads_cpu_ms"] = round(figures.pop("reads (by ObjectID + FormattedID)_cpu_ms") / 2, 2)
    figures["sql_per_feature_create"] = sum(c for _, c in created) / len(created)
    figures["sql_per_story_create"] = sum(c for _, c in stories) / len(stories)
    figures["sql_per_create"] = round(sum(c for _, c in creates) / len(creates), 2)
    figures["sql_per_read_by_oid"] = sum(r[0] for r in reads) / len(reads)
    figures["sql_per_query_by_formatted_id"] = sum(r[1] for r in reads) / len(reads)
    print(f"  sandbox CPU per create {figures['create_cpu_ms']:6.2f} ms, per read "
          f"{figures['reads_cpu_ms']:6.2f} ms; SQL per create {figures['sql_per_create']:5.2f} "
          f"(feature {figures['sql_per_feature_create']:.2f}, story "
          f"{figures['sql_per_story_create']:.2f}), per read by ObjectID "
          f"{figures['sql_per_read_by_oid']:.2f}, per query by FormattedID "
          f"{figures['sql_per_query_by_formatted_id']:.2f}")  # fmt: skip
    return figures


def timed(label: str, requests_made: int, work) -> float:
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    rate = requests_made / elapsed
    print(f"  {label:<48} {requests_made:>5} operations in {elapsed:6.2f}s = {rate:7.1f}/s")
    return rate


def bench_http(sandbox: RallySandbox, count: int) -> tuple[float, float, float]:
    session = sandbox.session()
    url = sandbox.wsapi_url
    marker = f"http-{uuid.uuid4().hex[:8]}"

    def create() -> None:
        for index in range(count):
            body = {
                "HierarchicalRequirement": {
                    "Name": f"{marker} {index:05d}",
                    "PlanEstimate": index % 8,
                }
            }
            result = session.post(f"{url}/hierarchicalrequirement/create", json=body).json()
            assert not result["CreateResult"]["Errors"], result

    pages = -(-count // PAGESIZE)

    def query(fetch: str):
        def run() -> None:
            seen = 0
            for page in range(pages):
                params = {"query": f'(Name contains "{marker}")', "fetch": fetch, "order": "Name",
                          "pagesize": PAGESIZE, "start": 1 + page * PAGESIZE}  # fmt: skip
                result = session.get(f"{url}/hierarchicalrequirement", params=params).json()
                seen += len(result["QueryResult"]["Results"])
            assert seen == count, seen

        return run

    print(f"HTTP (requests), {count} stories:")
    create_rate = timed("create, one story per request", count, create)
    query_rate = timed(f"query, fetch=FormattedID,Name, pagesize {PAGESIZE}", pages,
                       query("FormattedID,Name,ScheduleState"))  # fmt: skip
    full_rate = timed(f"query, fetch=true, pagesize {PAGESIZE}", pages, query("true"))
    return create_rate, query_rate, full_rate


def bench_pyral(sandbox: RallySandbox, count: int) -> tuple[float, float, float]:
    import pyral.restapi
    from pyral import Rally

    pyral.restapi.PROTOCOL = "http"
    rally = Rally(sandbox.server, apikey=sandbox.api_key, workspace="Engineering",
                  project="Platform", warn=False)  # fmt: skip
    marker = f"pyral-{uuid.uuid4().hex[:8]}"

    def create() -> None:
        for index in range(count):
            rally.create("UserStory", {"Name": f"{marker} {index:05d}", "PlanEstimate": index % 8})

    pages = -(-count // PAGESIZE)

    def query(fetch):
        def run() -> None:
            stories = rally.get("UserStory", fetch=fetch, query=f'Name contains "{marker}"',
                                order="Name", pagesize=PAGESIZE)  # fmt: skip
            assert sum(1 for _ in stories) == count

        return run

    print(f"pyral {pyral.__version__}, {count} stories (its create is a PUT plus a read-back GET):")
    create_rate = timed("rally.create, per story", count, create)
    query_rate = timed(f"rally.get, fetch=FormattedID,Name, pagesize {PAGESIZE}", pages,
                       query("FormattedID,Name,ScheduleState"))  # fmt: skip
    full_rate = timed(f"rally.get, fetch=True, pagesize {PAGESIZE}", pages, query(True))
    return create_rate, query_rate, full_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=5000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--no-webhook", action="store_true",
                        help="no webhook (by default one receives every create)")  # fmt: skip
    args = parser.parse_args()
    env = {"RALLY_SANDBOX_QUERY_COUNT_HEADER": "true"}
    with RallySandbox(env=env) as sandbox:
        print(f"Rally sandbox at {sandbox.base_url}")
        figures = (
            bench_send(sandbox, args.features, args.latency_ms, not args.no_webhook)
            if args.features
            else {}
        )
        if args.stories:
            http = bench_http(sandbox, args.stories)
            through_pyral = bench_pyral(sandbox, args.stories)
    if not args.stories:
        print(json.dumps(figures))
        return
    print("pyral / raw HTTP (operations per second):")
    for label, raw, wrapped in zip(
        ["create", "query (field list)", "query (fetch=true)"], http, through_pyral, strict=True
    ):
        print(f"  {label:<20} {wrapped:8.1f} / {raw:8.1f} = {wrapped / raw:5.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
