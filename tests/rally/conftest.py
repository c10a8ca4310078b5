"""Fixtures for the Rally client's tests: clients pointed at the real sandbox server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from aharally.rally import ApiKey, RallyClient, RetryPolicy, where
from tests.waiting import wait_until

ADMIN_HEADER = "X-Sandbox-Admin-Key"


class SandboxAdmin:
    """The sandbox's admin API: faults, concurrency statistics, OAuth helpers."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.headers[ADMIN_HEADER] = sandbox.sandbox_admin_key
        self.http.verify = sandbox.verify

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, self.sandbox.base_url + path, timeout=30, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text[:500])
        return response.json() if response.content else {}

    def inject(self, **fault) -> dict:
        return self._call("POST", "/sandbox-admin/faults", json=fault)

    def clear_faults(self) -> None:
        self._call("DELETE", "/sandbox-admin/faults")

    def stats(self) -> dict:
        return self._call("GET", "/sandbox-admin/stats")

    def reset_stats(self) -> None:
        """Start counting afresh once nothing from earlier tests is still in flight."""
        wait_until(
            lambda: not self.stats()["in_flight"],
            timeout=15,
            interval=0.05,
            what="no WSAPI request in flight (some still were)",
        )
        self._call("POST", "/sandbox-admin/stats/reset")

    def expire_access_tokens(self, **match) -> int:
        return self._call("POST", "/sandbox-admin/oauth/expire-access-tokens", json=match)[
            "expired"
        ]

    def register_oauth_client(self, **fields) -> dict:
        return self._call("POST", "/sandbox-admin/oauth-clients", json=fields)


class RequestLog:
    """Every HTTP request a client sent, counted where its transport hands it to urllib3.

    Counting there (not at the answer) also counts requests that never got an answer, such
    as one whose connection was dropped.
    """

    def __init__(self, client: RallyClient) -> None:
        self.sent: list[tuple[str, str]] = []
        self.statuses: list[int] = []
        transport = client.transport
        transport._urlopen = self._counting(transport._urlopen)

    def _counting(self, urlopen):
        def counted(method, url, *args, **kwargs):
            split = urlsplit(url)
            self.sent.append((method, split.path + (f"?{split.query}" if split.query else "")))
            answer = urlopen(method, url, *args, **kwargs)
            self.statuses.append(answer.status_code)
            return answer

        return counted

    def __len__(self) -> int:
        return len(self.sent)

    def methods(self) -> list[str]:
        return [method for method, _ in self.sent]

    def clear(self) -> None:
        self.sent.clear()
        self.statuses.clear()


@pytest.fixture
def admin(rally_sandbox) -> Iterator[SandboxAdmin]:
    admin = SandboxAdmin(rally_sandbox)
    yield admin
    # Faults must never leak into the next test (the sandbox is shared by the session).
    admin.clear_faults()


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the client asked to sleep; recorded instead of slept."""
    return []


def make_client(sandbox, *, key: str | None = None, sleeps=None, **kwargs) -> RallyClient:
    options = {"retry": RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=4.0)}
    if sleeps is not None:
        options["sleep"] = sleeps.append
    options.update(kwargs)
    return RallyClient(
        sandbox.base_url,
        credential=ApiKey(key or sandbox.api_key),
        ca_bundle=sandbox.verify if isinstance(sandbox.verify, str) else None,
        **options,
    )


@pytest.fixture
def client(rally_sandbox, sleeps) -> Iterator[RallyClient]:
    with make_client(rally_sandbox, sleeps=sleeps) as client:
        client.workspace = engineering_ref(client)
        yield client


@pytest.fixture
def requests_made(client) -> RequestLog:
    return RequestLog(client)


def engineering_ref(client: RallyClient) -> str:
    (engineering,) = [w for w in client.workspaces() if w.name == "Engineering"]
    return engineering.ref.path


@pytest.fixture
def platform(client):
    """The Engineering workspace's "Platform" project."""
    return client.query("Project", query=where("Name", "=", "Platform"), fetch=["Name"]).first()


@pytest.fixture
def marker() -> str:
    """A unique word to put in names, so a test finds exactly what it created."""
    return "t" + uuid.uuid4().hex[:12]
