"""OAuth codes stay out of access logs; an absurdly long password is refused at once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from tests.sandbox import free_port
from tests.waiting import wait_for_server, wait_until

ROOT = Path(__file__).resolve().parents[2]
CODE = "TheAuthorizationCode0123456789"
CALLBACK = f"/integrations/rally/oauth/callback?code={CODE}&state=TheState987654"


def _serve(command: list[str], tmp_path: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_for_server(
            f"http://127.0.0.1:{port}" + CALLBACK,
            process,
            timeout=60,
            interval=0.3,
            retry_on=requests.RequestException,
            request_timeout=10,
            allow_redirects=False,
        )
    except BaseException:
        process.kill()
        raise
    return process


def _stop(process: subprocess.Popen, log: Path) -> None:
    # The server writes its request line after answering: wait for it before stopping.
    # Stopping it anyway after 20 s: the test's own assertions then say what is missing.
    with contextlib.suppress(AssertionError):
        wait_until(
            lambda: "/integrations/rally/oauth/callback" in log.read_text(),
            timeout=20,
            interval=0.2,
            what="the callback's request line",
        )
    process.terminate()
    process.wait(timeout=20)


def test_the_dev_server_log_shows_the_callback_without_its_code(tmp_path):
    port = free_port()
    process = _serve(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        tmp_path,
        port,
    )
    _stop(process, tmp_path / "server.log")
    text = (tmp_path / "server.log").read_text()
    assert "/integrations/rally/oauth/callback" in text
    assert CODE not in text and "TheState987654" not in text


def test_the_gunicorn_access_log_shows_the_callback_without_its_code(tmp_path):
    port = free_port()
    access = tmp_path / "access.log"
    process = _serve(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "aharally.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(access),
        ],
        tmp_path,
        port,
    )
    _stop(process, access)
    text = access.read_text()
    assert "/integrations/rally/oauth/callback" in text
    assert CODE not in text


@pytest.mark.django_db
def test_a_one_megabyte_password_is_refused_at_sign_up(client, settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    huge = "a-long-passphrase-" * 60_000  # over 1 MB
    response = client.post(
        "/accounts/signup/", {"email": "big@example.com", "password1": huge, "password2": huge}
    )
    assert response.status_code == 200
    assert "at most 512 characters" in response.content.decode()
    assert not get_user_model().objects.filter(email="big@example.com").exists()
