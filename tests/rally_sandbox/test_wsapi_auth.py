"""Authentication as Rally does it: ZSESSIONID API keys, basic auth with security tokens."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.sandbox_only


def story_body(name: str) -> dict:
    return {"HierarchicalRequirement": {"Name": name}}


def test_an_api_key_works_as_header_or_cookie(rally_sandbox):
    url = f"{rally_sandbox.wsapi_url}/user"
    by_header = requests.get(url, headers={"ZSESSIONID": rally_sandbox.api_key})
    by_lowercase = requests.get(url, headers={"zsessionid": rally_sandbox.api_key})
    by_cookie = requests.get(url, cookies={"ZSESSIONID": rally_sandbox.api_key})
    for response in (by_header, by_lowercase, by_cookie):
        assert response.status_code == 200
        assert response.json()["User"]["UserName"] == "pm@example.com"


def test_each_demo_key_acts_as_its_user(rally_sandbox):
    for key, username in [
        (rally_sandbox.admin_key, "admin@example.com"),
        (rally_sandbox.developer_key, "developer@example.com"),
    ]:
        user = rally_sandbox.session(key).get(f"{rally_sandbox.wsapi_url}/user").json()["User"]
        assert user["UserName"] == username


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"ZSESSIONID": "_wrong"},
        {"Authorization": "Basic bm90LWJhc2U2NA=="},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer something"},
    ],
)
def test_missing_or_bad_credentials_get_401(rally_sandbox, headers):
    response = requests.get(f"{rally_sandbox.wsapi_url}/defect", headers=headers)
    assert response.status_code == 401
    assert "Full authentication is required" in response.text


def test_a_wrong_password_gets_401(rally_sandbox):
    response = requests.get(
        f"{rally_sandbox.wsapi_url}/user", auth=("developer@example.com", "not-the-password")
    )
    assert response.status_code == 401


def test_basic_auth_reads_freely_but_writes_only_with_a_security_token(rally_sandbox):
    session = requests.Session()
    session.auth = ("developer@example.com", rally_sandbox.users["developer@example.com"])
    url = rally_sandbox.wsapi_url
    assert session.get(f"{url}/user").json()["User"]["UserName"] == "developer@example.com"

    refused = session.post(f"{url}/hierarchicalrequirement/create", json=story_body("no key"))
    assert refused.json()["CreateResult"]["Errors"] == [
        "Not authorized to perform action: Invalid key"
    ]
    wrong = session.post(
        f"{url}/hierarchicalrequirement/create", params={"key": "guess"}, json=story_body("x")
    )
    assert wrong.json()["CreateResult"]["Errors"] == [
        "Not authorized to perform action: Invalid key"
    ]

    token = session.get(f"{url}/security/authorize").json()["OperationResult"]["SecurityToken"]
    created = session.post(
        f"{url}/hierarchicalrequirement/create", params={"key": token}, json=story_body("keyed")
    ).json()["CreateResult"]
    assert created["Errors"] == []
    deleted = session.delete(created["Object"]["_ref"], params={"key": token}).json()
    assert deleted["OperationResult"]["Errors"] == []


def test_a_security_token_of_one_user_does_not_let_another_write(rally_sandbox):
    url = rally_sandbox.wsapi_url
    pm = ("pm@example.com", rally_sandbox.users["pm@example.com"])
    developer = ("developer@example.com", rally_sandbox.users["developer@example.com"])
    token = requests.get(f"{url}/security/authorize", auth=pm).json()["OperationResult"][
        "SecurityToken"
    ]
    response = requests.post(
        f"{url}/hierarchicalrequirement/create",
        auth=developer,
        params={"key": token},
        json=story_body("borrowed key"),
    )
    assert response.json()["CreateResult"]["Errors"] == [
        "Not authorized to perform action: Invalid key"
    ]


def test_an_api_key_writes_without_a_token_even_with_key_none(rally_sandbox):
    response = rally_sandbox.session().put(
        f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/create",
        params={"key": "None"},
        json=story_body("pyral style"),
    )
    assert response.json()["CreateResult"]["Errors"] == []


def test_the_schema_endpoint_requires_credentials(rally_sandbox):
    response = requests.get(f"{rally_sandbox.base_url}/slm/schema/v2.0/workspace/1")
    assert response.status_code == 401
