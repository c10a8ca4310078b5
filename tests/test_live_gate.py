"""The gate that keeps webhook deliveries away from a test database being flushed."""

from __future__ import annotations

import threading

import requests

from tests.live_gate import REFUSED, LiveServerGate


def test_a_closed_gate_turns_requests_away_and_an_open_one_lets_them_through(
    live_server, _live_server_closed_after
):
    gate = _live_server_closed_after
    assert LiveServerGate.around(live_server) is gate, "one gate, put there once"
    assert requests.get(f"{live_server.url}/accounts/login/", timeout=10).status_code == 200

    gate.close()
    refused = requests.get(f"{live_server.url}/accounts/login/", timeout=10)
    assert (refused.status_code, refused.content) == (503, REFUSED)

    gate.open()
    assert requests.get(f"{live_server.url}/accounts/login/", timeout=10).status_code == 200


def test_closing_waits_for_the_request_in_flight():
    entered, release = threading.Event(), threading.Event()

    def slow_app(environ, start_response):
        entered.set()
        release.wait(10)
        start_response("200 OK", [])
        return [b"done"]

    gate = LiveServerGate(slow_app)
    gate.open()
    answered = []
    caller = threading.Thread(target=lambda: answered.append(gate({}, lambda *a: None)))
    caller.start()
    entered.wait(10)
    closer = threading.Thread(target=gate.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive(), "close() returned while a request was still being answered"
    release.set()
    closer.join(10)
    caller.join(10)
    assert not closer.is_alive() and answered == [[b"done"]]
    assert gate({}, lambda *a: None) == [REFUSED]
