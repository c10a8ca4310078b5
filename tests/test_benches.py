"""The benches of issue 22 still run, at their smallest, and end with their figures as JSON.

A bench is a deliverable (its figures are how a change to the sync is judged), and a change
to what benches share (`bench/send.py configure`) once broke two of them unnoticed. The three
run side by side, each against its own sandbox, cluster and SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.long_running

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def _start(script: str, *arguments: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SITE_URL")}
    return subprocess.Popen(
        [sys.executable, f"bench/{script}", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _figures(process: subprocess.Popen) -> dict:
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, output[-3000:]
    return json.loads(output.strip().splitlines()[-1])


def test_the_send_pull_and_click_benches_run_and_print_their_figures():
    send = _start(
        "send.py", "--features", "4", "--requirements", "1", "--sql-features", "2",
        "--catch-up-after", "1",
    )  # fmt: skip
    pull = _start("pull.py", "--stories", "120")
    click = _start("click.py", "--clicks", "2", "--idle", "0.5")

    sent, pulled, clicked = _figures(send), _figures(pull), _figures(click)

    assert sent["objects"] == 8
    assert sent["requests_per_object"] >= 1
    assert sent["sql_per_object"] > 0  # a drain's fixed cost over 4 objects: no goal here
    assert sent["cpu_ms_per_object"] > 0
    assert sent["sandbox_cpu_ms_per_object"] > 0
    assert sent["sandbox_webhook_cpu_ms_per_object"] >= 0
    assert sent["catch_up_during_send_s"] > 0
    assert pulled["records"] >= 120
    assert pulled["sql_per_record"] > 0
    assert pulled["ratio_to_paging"] > 0
    assert clicked["requests_per_send"] == 1.0
    assert clicked["p50_ms"] > 0
