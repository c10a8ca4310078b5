"""Start the Rally sandbox as a real server process for tests and benchmarks.

    with RallySandbox() as sandbox:
        requests.get(sandbox.base_url + "/slm/webservice/v2.0/subscription",
                     headers={"ZSESSIONID": sandbox.api_key})

Each instance gets a fresh temporary SQLite database (migrated and seeded) and a free loopback
port. Extra `serve` options (e.g. TLS flags) go in `serve_args`, extra environment in `env`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from rally_sandbox.seed import (
    ADMIN_API_KEY,
    DEMO_API_KEY,
    DEMO_USERS,
    DEVELOPER_API_KEY,
)
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class RallySandbox:
    """A sandbox server subprocess; `start()` returns once it answers HTTP requests."""

    api_key = DEMO_API_KEY
    admin_key = ADMIN_API_KEY
    developer_key = DEVELOPER_API_KEY

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        serve_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        scheme: str = "http",
        verify: bool | str = True,
        admin_key: bool = True,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.serve_args = list(serve_args or [])
        self.extra_env = dict(env or {})
        self.scheme = scheme
        # What `requests` should pass as `verify` to reach the server (a CA file over https).
        self.verify = verify
        self.users = {user.username: user.password for user in DEMO_USERS}
        # The key of /sandbox-admin/* (faults, stats, OAuth clients): one per instance, or none
        # (admin_key=False) to see what a sandbox without RALLY_SANDBOX_ADMIN_KEY does.
        self.sandbox_admin_key = (
            self.extra_env.get("RALLY_SANDBOX_ADMIN_KEY", secrets.token_urlsafe(16))
            if admin_key
            else None
        )
        self.logins = self.users
        self._tmp: str | None = None
        self._process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def wsapi_url(self) -> str:
        return f"{self.base_url}/slm/webservice/v2.0"

    @property
    def server(self) -> str:
        """What pyral takes as `server`: host and port."""
        return f"{self.host}:{self.port}"

    @property
    def database_url(self) -> str:
        # RALLY_SANDBOX_TEST_DATABASE_URL runs the sandbox on another database (e.g. a throwaway
        # PostgreSQL from scripts/with-postgres); it is migrated and seeded, never emptied.
        override = os.environ.get("RALLY_SANDBOX_TEST_DATABASE_URL")
        if override:
            return override
        assert self._tmp is not None
        return f"sqlite:///{self._tmp}/rally_sandbox.sqlite3"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("RALLY_SANDBOX_ADMIN_KEY", None)
        env.update({"RALLY_SANDBOX_DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1"})
        if self.sandbox_admin_key is not None:
            env["RALLY_SANDBOX_ADMIN_KEY"] = self.sandbox_admin_key
        env.update(self.extra_env)
        return env

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `python -m rally_sandbox <args>` against this sandbox's database."""
        return subprocess.run(
            [sys.executable, "-m", "rally_sandbox", *args],
            cwd=ROOT,
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> RallySandbox:
        self._tmp = tempfile.mkdtemp(prefix="rally-sandbox-")
        self.command("migrate")
        self.command("seed")
        self.log_path = Path(self._tmp) / "server.log"
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rally_sandbox",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                *self.serve_args,
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        def answering() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"The sandbox exited early:\n{self.log()}")
            try:
                # Any HTTP answer (a 401 included) means the server is up.
                requests.get(f"{self.wsapi_url}/subscription", timeout=2, verify=self.verify)
            except requests.exceptions.SSLError:
                return True
            except requests.RequestException:
                return False
            return True

        try:
            wait_until(answering, timeout=START_TIMEOUT_SECONDS, interval=0.1, what="the sandbox")
        except AssertionError:
            self.stop()
            raise RuntimeError(
                f"The sandbox did not answer within {START_TIMEOUT_SECONDS}s"
            ) from None

    def log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def session(self, key: str | None = None) -> requests.Session:
        """A requests session authenticated with an API key (the demo key by default)."""
        session = requests.Session()
        session.headers["ZSESSIONID"] = key or self.api_key
        session.verify = self.verify
        return session

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the sandbox admin API, e.g. `admin("POST", "/sandbox-admin/faults", json=…)`."""
        headers = {"X-Sandbox-Admin-Key": self.sandbox_admin_key or "", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", self.verify)
        return requests.request(method, self.base_url + path, headers=headers, **kwargs)

    def add_users(self, people: list[dict]) -> int:
        """Add users to the subscription (`{"email": …, "first_name": …}` each); how many."""
        response = self.admin("POST", "/sandbox-admin/users", json={"users": people}, timeout=120)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"Could not add users: {response.text}")
        return response.json()["created"]

    def require_field(self, type_path: str, field: str, workspace: str = "Engineering") -> None:
        """Make `field` required on create of `type_path` (an administrator's rule)."""
        response = self.admin(
            "POST",
            "/sandbox-admin/required-fields",
            json={"workspace": workspace, "type": type_path, "field": field},
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"Could not require {type_path}.{field}: {response.text}")

    def unrequire_field(self, type_path: str, field: str, workspace: str = "Engineering") -> None:
        """Remove the rule again; no error when there was none."""
        response = self.admin(
            "DELETE",
            "/sandbox-admin/required-fields",
            json={"workspace": workspace, "type": type_path, "field": field},
        )
        if response.status_code not in (204, 404):
            raise RuntimeError(f"Could not unrequire {type_path}.{field}: {response.text}")

    @contextmanager
    def required_field(
        self, type_path: str, field: str, workspace: str = "Engineering"
    ) -> Iterator[None]:
        """`with sandbox.required_field("Defect", "Severity"): …` — the rule holds inside only."""
        self.require_field(type_path, field, workspace)
        try:
            yield
        finally:
            self.unrequire_field(type_path, field, workspace)

    def __enter__(self) -> RallySandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextmanager
def mtls_sandbox(directory) -> Iterator[tuple[RallySandbox, object]]:
    """A sandbox that speaks TLS only and asks every client for a certificate, with the
    certificates it made in `directory` (a CA, the server's, a client's): (sandbox, certs)."""
    from rally_sandbox.tls import ensure_certificates

    certs = ensure_certificates(directory)
    sandbox = RallySandbox(
        serve_args=["--tls", "--require-client-cert", "--tls-dir", str(certs.directory)],
        scheme="https",
        verify=str(certs.ca_cert),
    )
    with sandbox:
        yield sandbox, certs
