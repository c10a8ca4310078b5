"""The fault injection page: a subscription administrator switches faults from a browser."""

from __future__ import annotations

import pytest
import requests

from tests.rally_sandbox.oauth_flow import forms_in

pytestmark = pytest.mark.sandbox_only

TIMEOUT = 30


def signed_in(sandbox, username: str) -> requests.Session:
    session = requests.Session()
    login = session.get(f"{sandbox.base_url}/login/oauth2/login", timeout=TIMEOUT)
    (form,) = forms_in(login.text)
    answer = session.post(
        login.url,
        data={**form.fields, "username": username, "password": sandbox.users[username]},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 302
    return session


@pytest.fixture
def page(rally_sandbox):
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
    yield f"{rally_sandbox.base_url}/sandbox/faults"
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")


def form_posting_to(html: str, suffix: str):
    (form,) = [f for f in forms_in(html) if f.action.endswith(suffix)]
    return form


def test_an_administrator_adds_a_fault_that_api_clients_then_meet(rally_sandbox, page):
    admin = signed_in(rally_sandbox, "pm@example.com")
    html = admin.get(page, timeout=TIMEOUT).text
    add = form_posting_to(html, "/sandbox/faults/add")

    answer = admin.post(
        rally_sandbox.base_url + add.action,
        data={
            **add.fields,
            "kind": "status",
            "status": "503",
            "retry_after": "4",
            "count": "1",
            "method": "GET",
            "path_contains": "/iteration",
        },
        timeout=TIMEOUT,
    )

    assert answer.status_code == 200
    assert "Added fault" in answer.text
    hit = rally_sandbox.session().get(f"{rally_sandbox.wsapi_url}/iteration", timeout=TIMEOUT)
    assert (hit.status_code, hit.headers["Retry-After"]) == (503, "4")
    after = rally_sandbox.session().get(f"{rally_sandbox.wsapi_url}/iteration", timeout=TIMEOUT)
    assert after.status_code == 200


def test_a_fault_the_registry_refuses_is_shown_as_an_error_and_not_added(rally_sandbox, page):
    admin = signed_in(rally_sandbox, "pm@example.com")
    add = form_posting_to(admin.get(page, timeout=TIMEOUT).text, "/sandbox/faults/add")

    answer = admin.post(
        rally_sandbox.base_url + add.action,
        data={**add.fields, "kind": "latency"},
        timeout=TIMEOUT,
    )

    assert answer.status_code == 400
    assert "&#x27;ms&#x27; is required" in answer.text
    assert rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"] == []


def test_clearing_on_the_page_removes_every_fault(rally_sandbox, page):
    rally_sandbox.admin("POST", "/sandbox-admin/faults", json={"kind": "latency", "ms": 5})
    admin = signed_in(rally_sandbox, "pm@example.com")
    html = admin.get(page, timeout=TIMEOUT).text
    assert "latency" in html
    clear = form_posting_to(html, "/sandbox/faults/clear")

    answer = admin.post(rally_sandbox.base_url + clear.action, data=clear.fields, timeout=TIMEOUT)

    assert "Cleared 1 fault" in answer.text
    assert rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"] == []


def test_only_subscription_administrators_may_use_the_page(rally_sandbox, page):
    developer = signed_in(rally_sandbox, "developer@example.com")
    assert developer.get(page, timeout=TIMEOUT).status_code == 403
    csrf = developer.cookies.get("rally_sandbox_csrftoken")
    refused = developer.post(
        f"{page}/add",
        data={"csrfmiddlewaretoken": csrf, "kind": "status", "status": "500"},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 403
    assert "Only subscription administrators" in refused.text  # not a CSRF refusal
    assert rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"] == []

    anonymous = requests.get(page, allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 302
    assert "/login/oauth2/login" in anonymous.headers["Location"]
