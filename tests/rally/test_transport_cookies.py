"""The transport sends its credential in the header and nothing else: never Rally's cookies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aharally.rally import ApiKey
from aharally.rally.transport import Transport


class _CookieSettingRally(BaseHTTPRequestHandler):
    """Answers every GET with an empty WSAPI query result and the cookies Rally sets."""

    seen: list[dict] = []

    def do_GET(self):
        type(self).seen.append(dict(self.headers))
        body = json.dumps({"QueryResult": {"Errors": [], "Warnings": [], "Results": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "JSESSIONID=from-rally; Path=/")
        self.send_header("Set-Cookie", "ZSESSIONID=an-older-session; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cookie_setting_rally():
    _CookieSettingRally.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieSettingRally)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_cookies_rallys_answers_set_are_never_sent_back(cookie_setting_rally):
    transport = Transport(cookie_setting_rally, ApiKey("_TheKey"))
    try:
        for _ in range(2):
            root, _content = transport.send("GET", "hierarchicalrequirement")
            assert root == "QueryResult"
    finally:
        transport.close()
    first, second = _CookieSettingRally.seen
    assert first["ZSESSIONID"] == second["ZSESSIONID"] == "_TheKey"
    assert "Cookie" not in second, second
