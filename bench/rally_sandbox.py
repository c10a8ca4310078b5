"""Create and query 5,000 stories in the Rally sandbox, over raw HTTP and through pyral.

Run it from the repository root: `.venv/bin/python bench/rally_sandbox.py`. It starts its own
sandbox (fresh temporary database, free loopback port, stopped afterwards). It prints requests
per second for creating stories one request each and for querying them at pagesize 2000, then
the same work done through Broadcom's pyral, and the ratios. `--stories N` changes the count.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sandbox import RallySandbox  # noqa: E402

PAGESIZE = 2000


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
    args = parser.parse_args()
    with RallySandbox() as sandbox:
        print(f"Rally sandbox at {sandbox.base_url}")
        http = bench_http(sandbox, args.stories)
        through_pyral = bench_pyral(sandbox, args.stories)
    print("pyral / raw HTTP (operations per second):")
    for label, raw, wrapped in zip(
        ["create", "query (field list)", "query (fetch=true)"], http, through_pyral, strict=True
    ):
        print(f"  {label:<20} {wrapped:8.1f} / {raw:8.1f} = {wrapped / raw:5.2f}")


if __name__ == "__main__":
    main()
