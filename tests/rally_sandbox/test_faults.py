"""Fault injection and concurrency counting, seen by a real client over HTTP."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests

from rally_sandbox.faults.registry import credential_label
from tests.sandbox import RallySandbox
from tests.waiting import wait_until

pytestmark = pytest.mark.sandbox_only

TIMEOUT = 30


def wait_until_idle(sandbox, seconds: float = 15) -> None:
    """Until no WSAPI request is in flight (one a client gave up on may still be running)."""
    wait_until(
        lambda: not sandbox.admin("GET", "/sandbox-admin/stats").json()["in_flight"],
        timeout=seconds,
        interval=0.1,
        what="no WSAPI request in flight (some still were)",
    )


def get(sandbox, path: str, **kwargs) -> requests.Response:
    headers = {"ZSESSIONID": sandbox.api_key, **kwargs.pop("headers", {})}
    return requests.get(
        f"{sandbox.wsapi_url}/{path}", headers=headers, timeout=kwargs.pop("timeout", TIMEOUT)
    )


@pytest.mark.parametrize("status", [503, 429])
def test_a_status_fault_answers_the_next_matching_requests_with_retry_after(
    rally_sandbox, faults, status
):
    faults(
        kind="status",
        status=status,
        retry_after=2,
        count=2,
        match={"method": "GET", "path_contains": "hierarchicalrequirement"},
    )

    other = get(rally_sandbox, "project")
    answers = [get(rally_sandbox, "hierarchicalrequirement") for _ in range(3)]

    assert other.status_code == 200
    assert [a.status_code for a in answers] == [status, status, 200]
    assert [a.headers.get("Retry-After") for a in answers[:2]] == ["2", "2"]
    assert "HTTP ERROR" in answers[0].text
    assert "QueryResult" in answers[2].json()


def test_an_error_rate_fails_that_fraction_of_requests_evenly(rally_sandbox, faults):
    faults(kind="error_rate", fraction=0.25, status=502, count=None)

    statuses = [get(rally_sandbox, "project").status_code for _ in range(8)]

    assert statuses == [200, 200, 200, 502, 200, 200, 200, 502]


def test_latency_delays_answers_until_cleared(rally_sandbox, faults):
    faults(kind="latency", ms=3000, count=None, match={"path_contains": "/project"})

    with pytest.raises(requests.exceptions.ReadTimeout):
        get(rally_sandbox, "project", timeout=0.5)
    # Other paths are not delayed.
    assert get(rally_sandbox, "subscription", timeout=2).status_code == 200

    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
    assert get(rally_sandbox, "project", timeout=2).status_code == 200
    wait_until_idle(rally_sandbox)


def test_a_dropped_connection_comes_after_the_change_was_committed(rally_sandbox, faults):
    name = f"Dropped {uuid.uuid4().hex[:8]}"
    faults(kind="drop_after_commit", count=1, match={"method": "POST"})
    headers = {"ZSESSIONID": rally_sandbox.api_key}

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/create",
            json={"HierarchicalRequirement": {"Name": name}},
            headers=headers,
            timeout=TIMEOUT,
        )

    found = requests.get(
        f"{rally_sandbox.wsapi_url}/hierarchicalrequirement",
        params={"query": f'(Name = "{name}")', "fetch": "Name"},
        headers=headers,
        timeout=TIMEOUT,
    ).json()["QueryResult"]
    assert found["TotalResultCount"] == 1
    # The fault was used up: the next write gets its answer.
    again = requests.post(
        f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/create",
        json={"HierarchicalRequirement": {"Name": name + " again"}},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert again.status_code == 200
    assert again.json()["CreateResult"]["Errors"] == []


def test_faults_are_listed_with_their_hits_and_cleared(rally_sandbox, faults):
    faults(kind="status", status=503, count=3, match={"path_contains": "/defect"})
    get(rally_sandbox, "defect")

    (listed,) = rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"]
    assert listed["kind"] == "status"
    assert listed["count"] == 2
    assert listed["hits"] == 1

    assert rally_sandbox.admin("DELETE", "/sandbox-admin/faults").json() == {"cleared": 1}
    assert get(rally_sandbox, "defect").status_code == 200


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "status", "status": 200}, "status"),
        ({"kind": "error_rate", "fraction": 1.5}, "fraction"),
        ({"kind": "latency"}, "ms"),
        ({"kind": "latency", "ms": 10, "status": 500}, "status"),
        ({"kind": "status", "status": 503, "match": {"verb": "GET"}}, "match"),
        ({"kind": "status", "status": 503, "count": 0}, "count"),
    ],
)
def test_a_bad_fault_is_refused_with_a_reason_and_nothing_added(
    rally_sandbox, faults, fault, message
):
    answer = rally_sandbox.admin("POST", "/sandbox-admin/faults", json=[fault])
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"] == []


def test_malformed_json_is_refused(rally_sandbox, faults):
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/faults",
        data="{nope",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["error"]


def test_the_admin_endpoints_need_the_admin_key(rally_sandbox):
    for method, path in [
        ("GET", "/sandbox-admin/faults"),
        ("POST", "/sandbox-admin/faults"),
        ("DELETE", "/sandbox-admin/faults"),
        ("GET", "/sandbox-admin/stats"),
        ("POST", "/sandbox-admin/stats/reset"),
    ]:
        answer = requests.request(method, rally_sandbox.base_url + path, timeout=TIMEOUT)
        assert answer.status_code == 403, (method, path)
        with_api_key = requests.request(
            method,
            rally_sandbox.base_url + path,
            headers={"X-Sandbox-Admin-Key": rally_sandbox.api_key},
            timeout=TIMEOUT,
        )
        assert with_api_key.status_code == 403


def test_concurrent_requests_are_counted_per_credential_without_revealing_it(rally_sandbox, faults):
    # Latency holds every request open, so all of them are in flight at once.
    faults(kind="latency", ms=1500, count=None, match={"path_contains": "/subscription"})
    wait_until_idle(rally_sandbox)
    assert rally_sandbox.admin("POST", "/sandbox-admin/stats/reset").status_code == 200
    start = threading.Barrier(6)
    statuses: list[int] = []

    def call(key: str) -> None:
        start.wait(timeout=10)
        statuses.append(get(rally_sandbox, "subscription", headers={"ZSESSIONID": key}).status_code)

    keys = [rally_sandbox.api_key] * 5 + [rally_sandbox.developer_key]
    threads = [threading.Thread(target=call, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    stats = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()
    assert statuses == [200] * 6
    assert stats["requests"] == 6
    assert stats["max_concurrent"] == {
        credential_label(zsessionid=rally_sandbox.api_key): 5,
        credential_label(zsessionid=rally_sandbox.developer_key): 1,
    }
    assert rally_sandbox.api_key not in json.dumps(stats)


def test_basic_auth_is_counted_by_user_name(rally_sandbox):
    wait_until_idle(rally_sandbox)
    assert rally_sandbox.admin("POST", "/sandbox-admin/stats/reset").status_code == 200
    answer = requests.get(
        f"{rally_sandbox.wsapi_url}/subscription",
        auth=("developer@example.com", rally_sandbox.users["developer@example.com"]),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200
    stats = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()
    assert stats["max_concurrent"] == {"basic:developer@example.com": 1}


def test_faults_can_be_set_at_startup_from_the_environment():
    startup = [
        {"kind": "status", "status": 503, "retry_after": 7, "match": {"path_contains": "/project"}}
    ]
    with RallySandbox(env={"RALLY_SANDBOX_FAULTS": json.dumps(startup)}) as sandbox:
        first, second = get(sandbox, "project"), get(sandbox, "project")
    assert (first.status_code, first.headers.get("Retry-After")) == (503, "7")
    assert second.status_code == 200


def test_a_bad_startup_fault_stops_the_server_from_starting():
    sandbox = RallySandbox(env={"RALLY_SANDBOX_FAULTS": '[{"kind": "status"}]'})
    with pytest.raises(RuntimeError, match="is required for a status fault"):
        sandbox.start()
    sandbox.stop()


def test_the_average_in_flight_counts_only_the_time_any_request_was_out():
    from rally_sandbox.faults.registry import ConcurrencyStats

    now = [0.0]
    stats = ConcurrencyStats(clock=lambda: now[0])
    for _ in range(2):
        stats.enter("a")
    now[0] = 1.0  # two out for a second
    stats.leave("a")
    now[0] = 2.0  # one out for a second
    stats.leave("a")
    now[0] = 10.0  # none out: an idle gap does not lower the average
    stats.enter("a")
    now[0] = 11.0
    snapshot = stats.snapshot()
    assert snapshot["avg_in_flight"] == {"a": round(4 / 3, 3)}
    assert snapshot["busy_seconds"] == {"a": 3.0}
    assert snapshot["max_concurrent"] == {"a": 2}
    stats.reset()
    now[0] = 12.0
    assert stats.snapshot()["avg_in_flight"] == {"a": 1.0}
