"""The pigeon API: webhooks listed, read, updated and deleted; bad ones refused; who may."""

from __future__ import annotations

import json

import pytest
import requests

from tests.rally_sandbox.webhooks.support import (
    SAMPLES,
)

pytestmark = pytest.mark.sandbox_only


def test_webhooks_are_listed_read_updated_and_deleted(sandbox, api, hook):
    _, webhook = hook(
        Expressions=[
            {"AttributeName": "ScheduleState", "Operator": "=", "Value": "Completed"},
        ]
    )
    listed = api.get(
        f"{sandbox.base_url}/apps/pigeon/api/v2/webhook", params={"pagesize": 200}, timeout=30
    ).json()
    assert set(listed) == {"PageSize", "StartIndex", "TotalResultCount", "Results"}
    assert webhook["ObjectUUID"] in {w["ObjectUUID"] for w in listed["Results"]}
    read = api.get(webhook["_ref"], timeout=30).json()
    sample = json.loads((SAMPLES / "webhook-definition.json").read_text())
    assert set(sample) <= set(read)
    assert read["Expressions"] == [
        {
            "AttributeID": None,
            "AttributeName": "ScheduleState",
            "Operator": "=",
            "Value": "Completed",
        }
    ]

    renamed = api.patch(webhook["_ref"], json={"Name": "Renamed"}, timeout=30).json()
    assert renamed["Name"] == "Renamed"
    assert renamed["_objectVersion"] == read["_objectVersion"] + 1

    assert api.delete(webhook["_ref"], timeout=30).status_code == 204
    assert api.get(webhook["_ref"], timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "x", "ObjectTypes": ["Defect"]}, "TargetUrl"),
        ({"Name": "x", "TargetUrl": "ftp://x/y"}, "TargetUrl"),
        ({"Name": "x", "TargetUrl": "http://x/y", "ObjectTypes": ["Spaceship"]}, "Spaceship"),
        (
            {
                "Name": "x",
                "TargetUrl": "http://x/y",
                "Expressions": [{"AttributeName": "Name", "Operator": "like", "Value": "a"}],
            },
            "Operator",
        ),
        (
            {"Name": "x", "TargetUrl": "http://x/y", "Expressions": [{"Operator": "="}]},
            "AttributeName",
        ),
        ({"Name": "x", "TargetUrl": "http://x/y", "Colour": "red"}, "Colour"),
    ],
)
def test_a_bad_webhook_is_refused_with_a_reason(sandbox, api, body, message):
    before = api.get(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook").json()["TotalResultCount"]
    answer = api.post(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook", json=body, timeout=30)
    assert answer.status_code == 400
    assert message in answer.json()["Errors"][0]
    after = api.get(f"{sandbox.base_url}/apps/pigeon/api/v2/webhook").json()["TotalResultCount"]
    assert after == before


def test_malformed_json_is_refused(sandbox, api):
    answer = api.post(
        f"{sandbox.base_url}/apps/pigeon/api/v2/webhook",
        data="{oops",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["Errors"][0]


def test_only_subscription_administrators_with_a_key_manage_webhooks(sandbox):
    url = f"{sandbox.base_url}/apps/pigeon/api/v2/webhook"
    developer = requests.get(url, headers={"ZSESSIONID": sandbox.developer_key}, timeout=30)
    assert developer.status_code == 403
    anonymous = requests.get(url, timeout=30)
    assert anonymous.status_code == 401
    assert "Full authentication is required" in anonymous.text
    basic = requests.get(url, auth=("admin@example.com", sandbox.users["admin@example.com"]))
    assert basic.status_code == 401
