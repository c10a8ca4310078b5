"""gunicorn's own lines: JSON with LOG_FORMAT=json, and the webhook's secret masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.sandbox import free_port
from tests.waiting import wait_for_server, wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "TheWebhookSecretInThePath0123456789"


def test_gunicorn_logs_json_lines_and_masks_the_webhook_secret(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "aharally.wsgi",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for_server(f"http://127.0.0.1:{port}/healthz", process, timeout=60, interval=0.3)
        requests.post(f"http://127.0.0.1:{port}/integrations/rally/webhook/1/{SECRET}/", timeout=10)
        wait_until(
            lambda: "/integrations/rally/webhook/1/" in log.read_text(),
            timeout=20,
            interval=0.2,
            what=lambda: f"the webhook's access log line; the log:\n{log.read_text()}",
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert SECRET not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert any("/integrations/rally/webhook/1/********/" in line["message"] for line in access)
    assert any(line["logger"] == "gunicorn.error" for line in lines)
