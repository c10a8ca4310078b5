"""One Send click on an idle task cluster: the time to the link, and the Rally requests it costs.

    .venv/bin/python bench/click.py [--clicks 20] [--idle 3]

Builds a throwaway SQLite database and a fresh sandbox, starts `manage.py qcluster` on them,
sends one feature to warm up (its look-ups are what later sends reuse), then clicks Send to
Rally (the real view, as a logged-in contributor) on a fresh feature `--clicks` times, idle for
`--idle` seconds before each, and measures each click from its POST to the link stored, and
the WSAPI requests the sandbox counted meanwhile. The catch-up schedule is pushed out of the
way (SYNC_PULL_MINUTES=60) so that what is counted is the send alone. Prints the figures
next to the goals and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.send import configure, people, wait_for  # noqa: E402

GOAL_P90_MS = 500
GOAL_REQUESTS = 1


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (the value below which `share` of the clicks fall)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def click(client, workspace, integration, sandbox, name: str) -> dict:
    """POST Send to Rally for a fresh feature: the seconds to the link (and to the view's
    answer, to the drain task's start, to the link written), and the requests counted."""
    from django.utils import timezone
    from django_q.models import Task

    from aharally.records.services import create_feature
    from aharally.sync.models import Link
    from tests.factories import parking_lot

    feature = create_feature(workspace=workspace, name=name, release=parking_lot(workspace))
    url = f"/w/{workspace.prefix}/sync/feature/{feature.pk}/send/"
    sandbox.admin("POST", "/sandbox-admin/stats/reset")
    clicked = timezone.now()
    started = time.perf_counter()
    response = client.post(url, {"integration": integration.pk}, HTTP_HX_REQUEST="true")
    answered = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    link = Link.objects.filter(record_id=feature.pk)
    deadline = time.monotonic() + 60
    while not link.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"No link for {name} after 60 s")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    time.sleep(0.3)  # let the drain finish (its last requests are counted too)
    task = Task.objects.filter(name__startswith="drain-", started__gte=clicked).order_by("started")
    task = task.first()
    return {
        "seconds": elapsed,
        "view": answered,
        "taken": (task.started - clicked).total_seconds() if task else float("nan"),
        "written": (link.get().created_at - clicked).total_seconds(),
        "requests": sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    # No catch-up during the clicks (its schedule is made by `migrate`, the cluster reads it).
    os.environ["SYNC_PULL_MINUTES"] = "60"
    with tempfile.TemporaryDirectory(prefix="aharally-click-") as tmp:
        configure(Path(tmp) / "click.sqlite3")
        from django.core.management import call_command
        from django.test import Client

        from tests.sandbox import RallySandbox
        from tests.sync.cluster import TaskCluster
        from tests.sync.support import connect

        with RallySandbox() as sandbox:
            call_command("createcachetable", verbosity=0)  # as `make run` does
            workspace, owner, contributor = people()
            integration = connect(workspace, sandbox, owner=owner)
            client = Client()
            client.force_login(contributor)
            cluster = TaskCluster(env={"SYNC_PULL_MINUTES": "60"}).start()
            try:
                wait_for(cluster_ready, timeout=60)
                time.sleep(args.idle)
                warm = click(client, workspace, integration, sandbox, "Warm")
                clicks = []
                for n in range(args.clicks):
                    time.sleep(args.idle)
                    clicks.append(click(client, workspace, integration, sandbox, f"Click {n}"))
            finally:
                cluster.stop()
    times = [c["seconds"] * 1000 for c in clicks]
    counts = [c["requests"] for c in clicks]
    p50, p90 = statistics.median(times), percentile(times, 0.9)
    per_send = sum(counts) / len(counts)
    print(
        f"first send (cold look-ups): {warm['seconds'] * 1000:.0f} ms, "
        f"{warm['requests']} Rally requests"
    )
    print(f"{len(times)} clicks, {args.idle:g} s idle before each, click → link stored:")
    print(f"  p50   {p50:7.0f} ms")
    print(f"  p90   {p90:7.0f} ms   goal < {GOAL_P90_MS} ms")
    print(f"  min   {min(times):7.0f} ms   max {max(times):.0f} ms")
    print("  where it goes, p50 (ms from the click):")
    for key, label in [
        ("view", "the view answered"),
        ("taken", "a worker started the drain"),
        ("written", "the link was written"),
    ]:
        print(f"    {label:<28} {statistics.median(c[key] for c in clicks) * 1000:6.0f}")
    print(
        f"Rally requests per send  {per_send:5.2f}   goal {GOAL_REQUESTS} "
        f"(each: {' '.join(str(c) for c in counts)})"
    )
    print(json.dumps({"p50_ms": round(p50), "p90_ms": round(p90), "requests_per_send": per_send}))


def cluster_ready() -> bool:
    """A cluster of this database has written its heartbeat (its workers are up)."""
    from django_q.models import Success

    from aharally.sync.enqueue import enqueue

    if not getattr(cluster_ready, "asked", False):
        enqueue("math.floor", 1.5, task_name="click-bench-ready")
        cluster_ready.asked = True
    return Success.objects.filter(name="click-bench-ready").exists()


if __name__ == "__main__":
    main()
