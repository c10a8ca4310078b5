"""How long the features board takes to render at 200 and 2,000 features, and the ratio.

Run it from the repository root: `.venv/bin/python bench/board.py`. It builds a throwaway
SQLite database in a temporary directory (removed afterwards), so it never touches yours.
Pass `--sizes 200 2000 5000` to try other sizes, `--runs N` for more samples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database: Path) -> None:
    # WhiteNoise warns that collectstatic has not run; the bench serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    os.environ["AHARALLY_TESTING"] = "true"
    os.environ["DEBUG"] = "false"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aharally.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)


def build_board(size: int):
    """A workspace like the demo's (3 releases + parking lot, statuses, people, tags)."""
    from django.contrib.auth import get_user_model

    from aharally.records.models import Feature, Release, Tag
    from aharally.records.services import create_release, create_workspace
    from aharally.workspaces.models import Membership, RecordType, Role, WorkflowStatus

    User = get_user_model()
    owner = User.objects.create_user(
        username=f"owner{size}", email=f"owner{size}@example.com", password="bench-password"
    )
    prefix = f"B{size}"
    workspace = create_workspace(name=f"Bench {size}", prefix=prefix, owner=owner)
    people = [owner]
    for n in range(3):
        person = User.objects.create_user(
            username=f"p{n}-{size}", email=f"p{n}-{size}@example.com", first_name=f"Person{n}"
        )
        Membership.objects.create(workspace=workspace, user=person, role=Role.CONTRIBUTOR)
        people.append(person)
    for n in range(3):
        create_release(workspace=workspace, name=f"Release {n + 1}")
    releases = list(Release.objects.filter(workspace=workspace))
    statuses = list(
        WorkflowStatus.objects.filter(workspace=workspace, record_type=RecordType.FEATURE)
    )
    tags = [Tag.objects.create(workspace=workspace, name=f"tag-{n}") for n in range(5)]
    Feature.objects.bulk_create(
        [
            Feature(
                workspace=workspace,
                number=n,
                reference=f"{prefix}-{n}",
                name=f"Feature {n}: improve the onboarding checklist for new teams",
                release=releases[n % len(releases)],
                status=statuses[n % len(statuses)],
                assignee=people[n % len(people)] if n % 5 else None,
                estimate=n % 13 or None,
                rank=float(n),
            )
            for n in range(1, size + 1)
        ],
        batch_size=500,
    )
    through = Feature.tags.through
    through.objects.bulk_create(
        [
            through(feature_id=pk, tag_id=tags[pk % len(tags)].pk)
            for pk in Feature.objects.filter(workspace=workspace).values_list("pk", flat=True)
        ],
        batch_size=500,
    )
    return workspace, owner


def measure(workspace, user, runs: int) -> tuple[float, int, int]:
    """Median seconds of a full board request, its query count and its size in bytes."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    url = reverse("records:board", kwargs={"prefix": workspace.prefix})
    response = client.get(url)  # warm-up: templates compiled, caches filled
    assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(timings), len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aharally-bench-") as directory:
        configure(Path(directory) / "bench.sqlite3")
        results = []
        for size in args.sizes:
            workspace, owner = build_board(size)
            seconds, queries, size_bytes = measure(workspace, owner, args.runs)
            results.append((size, seconds))
            print(
                f"{size:>6} features: {seconds * 1000:8.1f} ms  "
                f"({queries} queries, {size_bytes / 1024:,.0f} KiB of HTML, "
                f"median of {args.runs})"
            )
        (small, small_s), (large, large_s) = results[0], results[-1]
        print(
            f"ratio {large}/{small}: {large_s / small_s:.1f}x the time "
            f"for {large / small:.0f}x the features"
        )


if __name__ == "__main__":
    main()
