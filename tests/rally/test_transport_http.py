"""The transport's HTTP against a small local server: what it sends, and the connections it
opens."""

from __future__ import annotations

import gzip
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from aharally.rally import ApiKey
from aharally.rally.transport import RequestsNotHere, Transport, no_requests
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


class _EchoingRally(BaseHTTPRequestHandler):
    """Answers every request with a WSAPI result naming the request target it received,
    compressed when the request accepts gzip, as Rally compresses its answers."""

    protocol_version = "HTTP/1.1"
    compressed: list[str] = []

    def do_GET(self):
        body = json.dumps({"QueryResult": {"Errors": [], "Warnings": [], "Target": self.path}})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            type(self).compressed.append(self.path)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    "params",
    [
        {"query": '((Name = "a b") AND (Notes contains "50%"))', "fetch": "ObjectID,Name"},
        {"fetch": ["ObjectID", "FormattedID"], "start": None, "pagesize": 200},
        {"query": '(Name = "Café ünïcode & co")', "shallowFetch": True},
    ],
)
def test_a_querys_parameters_reach_rally_as_requests_would_have_sent_them(params):
    """The transport builds its URLs itself (not through `requests`): the target Rally
    receives is the one `requests` prepares for the same parameters, and a compressed answer
    is read as it was."""
    _EchoingRally.compressed = []
    with serving(_EchoingRally) as url:
        transport = Transport(url, ApiKey("_TheKey"))
        try:
            _root, content = transport.send("GET", "hierarchicalrequirement", params=params)
        finally:
            transport.close()
    wsapi = url + "/slm/webservice/v2.0/hierarchicalrequirement"
    expected = requests.Request("GET", wsapi, params=params).prepare().path_url
    assert content["Target"] == expected
    assert _EchoingRally.compressed == [expected]


def test_a_closed_transport_that_is_asked_again_opens_a_new_connection():
    with serving(_EchoingRally) as url:
        transport = Transport(url, ApiKey("_TheKey"))
        try:
            transport.send("GET", "defect")
            transport.close()
            root, content = transport.send("GET", "defect", params={"start": 1})
        finally:
            transport.close()
    assert (root, content["Target"]) == ("QueryResult", "/slm/webservice/v2.0/defect?start=1")


def test_through_the_environments_proxy_a_request_names_rallys_url_in_full(monkeypatch):
    """With HTTP_PROXY set, the request goes to the proxy, which is asked for Rally's URL in
    full (the proxy connects to Rally, not the transport)."""
    with serving(_EchoingRally) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("http_proxy", proxy)
        transport = Transport("http://rally.invalid", ApiKey("_TheKey"))
        try:
            _root, content = transport.send("GET", "defect", params={"pagesize": 1})
        finally:
            transport.close()
    assert content["Target"] == "http://rally.invalid/slm/webservice/v2.0/defect?pagesize=1"


def test_a_thread_that_said_it_makes_no_requests_sends_none_and_others_still_do():
    """`no_requests` holds on the thread that said it, while it says it: a drain's own thread
    prepares creates under it and hands any that would wait on Rally to its pool."""
    _EchoingRally.compressed = []
    with serving(_EchoingRally) as url:
        transport = Transport(url, ApiKey("_TheKey"))
        try:
            with no_requests():
                with pytest.raises(RequestsNotHere):
                    transport.send("GET", "defect", params={"start": 1})
                with ThreadPoolExecutor(1) as pool:
                    _root, elsewhere = pool.submit(transport.send, "GET", "task").result()
            _root, after = transport.send("GET", "defect", params={"start": 2})
        finally:
            transport.close()
    assert elsewhere["Target"] == "/slm/webservice/v2.0/task"
    assert after["Target"] == "/slm/webservice/v2.0/defect?start=2"
    # What reached Rally (every answer is compressed): nothing from the refused request.
    assert _EchoingRally.compressed == [elsewhere["Target"], after["Target"]]
