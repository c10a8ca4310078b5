"""What the webhook tests share: Rally's field ids, a receiver of deliveries, and writes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.waiting import wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "rally" / "samples"
TIMEOUT = 30
WAIT_SECONDS = 20
RETRY_DELAYS = [0.2, 0.4, 0.8]  # so a delivery is tried 4 times
NAME_ID = "500a0d67-9c48-4145-920c-821033e4a832"
PLAN_ESTIMATE_ID = "7f25a8ae-6948-49a9-92f5-b437ca213251"
VERSION_ID = "f5b1fb22-6c15-44b5-a592-19189fafe5f2"
OBJECT_ID = "2910ca71-9779-4e7b-8fcf-d718c919aff8"
TEAM_A = "Platform \N{EN DASH} Team A"


class Receiver:
    """A tiny HTTP server that records webhook deliveries and answers as told per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, list[int]] = {}  # path → statuses to answer, in turn
        self.hold: dict[str, threading.Event] = {}  # path → answer only once this is set
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                gate = receiver.hold.get(self.path)
                if gate is not None:
                    gate.wait(timeout=WAIT_SECONDS)
                with receiver.lock:
                    receiver.received.append((self.path, body))
                    statuses = receiver.answers.get(self.path) or [200]
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list[dict]:
        with self.lock:
            return [body for p, body in self.received if p == path]

    def wait_for(self, path: str, count: int) -> list[dict]:
        """The first `count` deliveries to `path`, waiting a bounded time for them."""
        wait_until(
            lambda: len(self.bodies(path)) >= count,
            timeout=WAIT_SECONDS,
            interval=0.05,
            what=lambda: f"{count} deliveries to {path} ({len(self.bodies(path))} came)",
        )
        return self.bodies(path)


def create(sandbox, api, type_path: str, fields: dict) -> dict:
    answer = api.post(
        f"{sandbox.wsapi_url}/{type_path}/create",
        params={"fetch": "true"},
        json={type_path: fields},
        timeout=TIMEOUT,
    )
    result = answer.json()["CreateResult"]
    assert result["Errors"] == [], result
    return result["Object"]


def update(sandbox, api, obj: dict, fields: dict) -> dict:
    answer = api.post(
        obj["_ref"], params={"fetch": "true"}, json={obj["_type"]: fields}, timeout=TIMEOUT
    )
    result = answer.json()["OperationResult"]
    assert result["Errors"] == [], result
    return result["Object"]


def delete(api, obj: dict) -> None:
    answer = api.delete(obj["_ref"], timeout=TIMEOUT)
    assert answer.json()["OperationResult"]["Errors"] == []


def project(sandbox, api, name: str) -> dict:
    answer = api.get(
        f"{sandbox.wsapi_url}/project",
        params={"query": f'(Name = "{name}")', "fetch": "Name,ObjectID"},
        timeout=TIMEOUT,
    )
    (found,) = answer.json()["QueryResult"]["Results"]
    return found


def deliveries(sandbox) -> list[dict]:
    return sandbox.admin("GET", "/sandbox-admin/webhook-deliveries").json()["deliveries"]


def delivery_of(sandbox, webhook: dict, *, status: str | None = None) -> dict | None:
    """The webhook's one delivery; with `status`, only once it has that status."""
    (delivery,) = [d for d in deliveries(sandbox) if d["webhook"] == webhook["ObjectUUID"]]
    return delivery if status is None or delivery["status"] == status else None


def by_name(section: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in section.values()}
