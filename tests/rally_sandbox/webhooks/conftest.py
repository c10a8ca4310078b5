"""One sandbox (fast retries) and one receiver for the webhook tests; a hook per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.rally_sandbox.webhooks.support import RETRY_DELAYS, Receiver
from tests.sandbox import RallySandbox


@pytest.fixture(scope="package")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="package")
def sandbox() -> Iterator[RallySandbox]:
    env = {"RALLY_SANDBOX_WEBHOOK_RETRY_DELAYS": ",".join(str(d) for d in RETRY_DELAYS)}
    with RallySandbox(env=env) as sandbox:
        yield sandbox


@pytest.fixture
def api(sandbox) -> requests.Session:
    """The subscription administrator's API key (webhooks are theirs to manage)."""
    return sandbox.session(sandbox.admin_key)


@pytest.fixture
def hook(sandbox, api, receiver) -> Iterator[Callable[..., tuple[str, dict]]]:
    """Register webhooks to fresh receiver paths; each is deleted after the test."""
    made: list[str] = []

    def register(**fields: Any) -> tuple[str, dict]:
        path = f"/hook/{uuid.uuid4().hex[:10]}"
        body = {
            "AppName": "Tests",
            "AppUrl": receiver.url,
            "Name": f"Test hook {path}",
            "TargetUrl": receiver.url + path,
            "ObjectTypes": ["HierarchicalRequirement"],
            **fields,
        }
        answer = api.post(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["ObjectUUID"])
        return path, answer.json()

    yield register
    for webhook_id in made:
        api.delete(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook/{webhook_id}", timeout=30)
