"""The transport's HTTP against a small local server: what it sends, and the connections it
opens."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest

from aharally.rally import ApiKey
from aharally.rally.transport import Transport
from tests.local_http import serving


class _SlowBodiedRally(BaseHTTPRequestHandler):
    """Answers every GET with an empty WSAPI query result and the cookies Rally sets; the
    body follows the headers after a pause, as a large answer's does."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Rally
    seen: list[dict] = []
    connections: set[int] = set()
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            type(self).seen.append(dict(self.headers))
            type(self).connections.add(self.client_address[1])
        body = json.dumps({"QueryResult": {"Errors": [], "Warnings": [], "Results": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "JSESSIONID=from-rally; Path=/")
        self.send_header("Set-Cookie", "ZSESSIONID=an-older-session; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        time.sleep(0.03)
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_bodied_rally():
    _SlowBodiedRally.seen = []
    _SlowBodiedRally.connections = set()
    with serving(_SlowBodiedRally) as url:
        yield url


def test_the_cookies_rallys_answers_set_are_never_sent_back(slow_bodied_rally):
    transport = Transport(slow_bodied_rally, ApiKey("_TheKey"))
    try:
        for _ in range(2):
            root, _content = transport.send("GET", "hierarchicalrequirement")
            assert root == "QueryResult"
    finally:
        transport.close()
    first, second = _SlowBodiedRally.seen
    assert first["ZSESSIONID"] == second["ZSESSIONID"] == "_TheKey"
    assert "Cookie" not in second, second


def test_requests_at_the_cap_reuse_their_connections_and_open_no_more(slow_bodied_rally):
    """An answer is read whole before its place in flight is given back: the next request
    finds its connection back in the pool, never opens another (which the pool would then
    discard)."""
    transport = Transport(
        slow_bodied_rally, ApiKey("_TheKey"), max_concurrent=3, concurrency_key=str(id(object()))
    )
    try:
        with ThreadPoolExecutor(8) as pool:
            roots = list(pool.map(lambda _: transport.send("GET", "defect")[0], range(24)))
    finally:
        transport.close()
    assert roots == ["QueryResult"] * 24
    assert len(_SlowBodiedRally.seen) == 24
    assert len(_SlowBodiedRally.connections) <= 3, _SlowBodiedRally.connections
