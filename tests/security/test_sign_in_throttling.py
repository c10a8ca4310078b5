"""Sign-in throttling holds across processes, per client, and cannot lock the owner out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.sandbox import free_port
from tests.waiting import wait_for_server

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD = "owner@example.com", "the-right-passphrase-42"
THROTTLED = "Too many failed login attempts"


class FromAddress(HTTPAdapter):
    """Connections from one local source address: another client, as the server sees it."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _client(address: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", FromAddress(address))
    return session


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """aharally under gunicorn with 3 worker processes, on its own SQLite database."""
    directory = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "BEHIND_TLS_PROXY": "false",
    }
    env.pop("REDIS_URL", None)

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    manage("migrate", "--no-input")
    manage("createcachetable")
    manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user(username={EMAIL!r}, email={EMAIL!r}, "
        f"password={PASSWORD!r})",
    )
    port = free_port()
    log = directory / "access.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "aharally.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--access-logfile",
            str(log),
            "--access-logformat",
            "%(p)s %(s)s",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(
            base + "/accounts/login/",
            process,
            timeout=60,
            retry_on=requests.RequestException,
            request_timeout=10,
        )
    except BaseException:
        process.kill()
        raise
    yield base, log
    process.terminate()
    process.wait(timeout=20)


def _sign_in(session: requests.Session, base: str, password: str) -> requests.Response:
    page = session.get(base + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        base + "/accounts/login/",
        data={"login": EMAIL, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/accounts/login/", "Connection": "close"},
        allow_redirects=False,
        timeout=10,
    )


def test_fifty_wrong_passwords_across_processes_are_throttled_and_the_owner_still_signs_in(
    gunicorn,
):
    base, log = gunicorn
    guesser = _client("127.0.0.2")
    answers = [_sign_in(guesser, base, f"wrong-guess-{n}") for n in range(50)]
    assert all(answer.status_code in (200, 429) for answer in answers)
    # Refused unchecked: the failed-sign-in limit's message, or allauth's 429 for too many
    # sign-in posts from one address.
    throttled = [a for a in answers if a.status_code == 429 or THROTTLED in a.text]
    assert len(throttled) >= 45  # at most 5 guesses were checked, whichever worker took them
    # The guesser gets nothing even with the right password now.
    again = _sign_in(guesser, base, PASSWORD)
    assert again.status_code == 429 or THROTTLED in again.text

    owner = _client("127.0.0.3")
    signed_in = _sign_in(owner, base, PASSWORD)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"

    pids = {line.split()[0] for line in log.read_text().splitlines() if line.strip()}
    assert len(pids) >= 2, "the requests were not spread over several worker processes"


def test_the_admin_login_goes_through_the_throttled_sign_in(gunicorn):
    base, _ = gunicorn
    answer = requests.get(base + "/admin/login/?next=/admin/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/accounts/login/")
    posted = requests.post(
        base + "/admin/login/",
        data={"username": EMAIL, "password": "x"},
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code in (302, 403)  # never an admin login form checking passwords
    assert "/accounts/login/" in posted.headers.get("Location", "/accounts/login/")


@pytest.mark.django_db
def test_a_forged_forwarded_address_does_not_reset_the_count_unless_behind_our_proxy(
    client, settings
):
    from tests.factories import make_user

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    make_user(EMAIL, password=PASSWORD)
    for n in range(8):
        answer = client.post(
            "/accounts/login/",
            {"login": EMAIL, "password": f"wrong-{n}"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            REMOTE_ADDR="203.0.113.9",
        )
    assert THROTTLED in answer.content.decode()

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # behind our proxy: its forwarded address counts
    answer = client.post(
        "/accounts/login/",
        {"login": EMAIL, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.200",
        REMOTE_ADDR="203.0.113.9",
    )
    assert answer.status_code == 302
