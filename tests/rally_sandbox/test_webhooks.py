"""Webhooks: the pigeon API, and Rally-shaped deliveries to a real receiver, with retries."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.sandbox import RallySandbox
from tests.waiting import wait_until

pytestmark = pytest.mark.sandbox_only

SAMPLES = Path("/work/shared/rally/samples")
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


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
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


def _delivery(sandbox, webhook: dict, *, status: str | None = None) -> dict | None:
    """The webhook's one delivery; with `status`, only once it has that status."""
    (delivery,) = [d for d in deliveries(sandbox) if d["webhook"] == webhook["ObjectUUID"]]
    return delivery if status is None or delivery["status"] == status else None


def by_name(section: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in section.values()}


def test_a_created_story_is_delivered_in_rallys_shape(sandbox, api, hook, receiver):
    path, webhook = hook()
    name = f"Created {uuid.uuid4().hex[:6]}"
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": name, "PlanEstimate": 3})

    (body,) = receiver.wait_for(path, 1)

    sample = json.loads((SAMPLES / "webhook-delivery-created-investment.json").read_text())
    assert set(body) == set(sample)
    assert set(body["message"]) == set(sample["message"])
    assert set(sample["rule"]) <= set(body["rule"])
    message = body["message"]
    assert message["action"] == "Created"
    assert message["changes"] == {}
    assert message["object_type"] == "HierarchicalRequirement"
    assert message["id"] == message["object_id"] == story["_refObjectUUID"]
    assert message["ref"] == (
        f"{sandbox.base_url}/slm/webservice/v2.x/hierarchicalrequirement/{story['_refObjectUUID']}"
    )
    assert message["detail_link"].endswith(f"/slm/#/detail/userstory/{story['ObjectID']}")
    assert message["project"]["name"] == "Platform"
    assert message["transaction"]["user"]["username"] == "admin@example.com"
    assert message["state"][NAME_ID]["value"] == name
    assert message["state"][OBJECT_ID]["value"] == story["ObjectID"]
    assert message["state"][PLAN_ESTIMATE_ID]["value"] == {"value": 3.0, "units": "Points"}
    project_value = by_name(message["state"])["Project"]["value"]
    assert project_value["object_type"] == "Project"
    assert project_value["ref"].startswith(f"{sandbox.base_url}/slm/webservice/v2.x/project/")
    assert body["rule"]["ObjectUUID"] == webhook["ObjectUUID"]
    assert body["rule"]["_type"] == "webhook"


def test_a_story_created_with_tags_is_delivered_with_them(sandbox, api, hook, receiver):
    # A Created payload skips the queries for what a new artifact cannot have yet (tasks,
    # children, posts), but not the Tags its create named.
    path, _ = hook()
    tag = f"tag-{uuid.uuid4().hex[:6]}"
    create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {"Name": "Tagged at birth", "Tags": [{"Name": tag}]},
    )

    (body,) = receiver.wait_for(path, 1)
    state = by_name(body["message"]["state"])
    assert [member["name"] for member in state["Tags"]["value"]] == [tag]


def test_an_update_is_delivered_with_the_changed_fields_and_old_values(
    sandbox, api, hook, receiver
):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Before", "PlanEstimate": 2})
    path, _ = hook()

    update(sandbox, api, story, {"Name": "After", "PlanEstimate": 5})

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["action"] == "Updated"
    changes = message["changes"]
    assert changes[NAME_ID]["old_value"] == "Before"
    assert changes[NAME_ID]["value"] == "After"
    assert changes[PLAN_ESTIMATE_ID]["old_value"] == {"value": 2.0, "units": "Points"}
    assert changes[PLAN_ESTIMATE_ID]["value"] == {"value": 5.0, "units": "Points"}
    assert changes[VERSION_ID]["value"] == changes[VERSION_ID]["old_value"] + 1
    assert {entry["added"] for entry in changes.values()} == {None}
    assert message["state"][NAME_ID]["value"] == "After"


def test_a_tag_added_is_delivered_as_a_collection_change(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Tagged"})
    tag = create(sandbox, api, "Tag", {"Name": f"tag-{uuid.uuid4().hex[:6]}"})
    path, _ = hook()

    answer = api.post(f"{story['_ref']}/Tags/add", json={"Tags": [{"_ref": tag["_ref"]}]})
    assert answer.json()["OperationResult"]["Errors"] == []

    (body,) = receiver.wait_for(path, 1)
    tags = by_name(body["message"]["changes"])["Tags"]
    assert tags["type"] == "Collection"
    assert [added["name"] for added in tags["added"]] == [tag["Name"]]
    assert tags["removed"] is None


def test_a_multi_value_drop_down_change_is_delivered_as_a_collection_change(
    sandbox, api, hook, receiver
):
    typedef = api.get(
        f"{sandbox.wsapi_url}/typedefinition",
        params={"query": '(ElementName = "Feature")', "fetch": "ObjectID"},
    ).json()["QueryResult"]["Results"][0]
    attributes = api.get(
        f"{sandbox.wsapi_url}/TypeDefinition/{typedef['ObjectID']}/Attributes",
        params={"fetch": "true", "pagesize": 200},
    ).json()["QueryResult"]["Results"]
    platforms = next(a for a in attributes if a["ElementName"] == "c_Platforms")
    values = api.get(platforms["AllowedValues"]["_ref"], params={"fetch": "true"}).json()
    refs = {v["StringValue"]: v["_ref"] for v in values["QueryResult"]["Results"]}
    feature = create(
        sandbox, api, "PortfolioItem/Feature", {"Name": "Ships", "c_Platforms": [refs["Web"]]}
    )
    path, _ = hook(ObjectTypes=["Feature"])

    update(sandbox, api, feature, {"c_Platforms": [{"_ref": refs["iOS"]}]})

    (body,) = receiver.wait_for(path, 1)
    change = by_name(body["message"]["changes"])["c_Platforms"]
    assert change["type"] == "Collection"
    assert [item["name"] for item in change["added"]] == ["iOS"]
    assert [item["name"] for item in change["removed"]] == ["Web"]


def test_a_delete_is_delivered_with_the_last_state(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Doomed"})
    path, _ = hook()

    delete(api, story)

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["action"] == "Deleted"
    assert message["object_id"] == story["_refObjectUUID"]
    assert message["state"][NAME_ID]["value"] == "Doomed"
    assert message["state"][OBJECT_ID]["value"] == story["ObjectID"]


def test_a_portfolio_item_is_delivered_under_its_short_type_name(sandbox, api, hook, receiver):
    path, _ = hook(ObjectTypes=["Feature"])
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Not a feature"})
    feature = create(sandbox, api, "PortfolioItem/Feature", {"Name": "Checkout revamp"})

    (body,) = receiver.wait_for(path, 1)
    message = body["message"]
    assert message["object_type"] == "Feature"
    assert message["object_id"] == feature["_refObjectUUID"]
    assert "/slm/webservice/v2.x/portfolioitem/feature/" in message["ref"]
    assert message["detail_link"].endswith(f"/portfolioitem/feature/{feature['ObjectID']}")
    assert message["state"][NAME_ID]["value"] == "Checkout revamp"


def test_a_portfolio_item_state_change_carries_the_states_order(sandbox, api, hook, receiver):
    feature = create(sandbox, api, "PortfolioItem/Feature", {"Name": "Stateful"})
    (developing,) = api.get(
        f"{sandbox.wsapi_url}/state",
        params={
            "query": '((TypeDef.Name = "Feature") AND (Name = "Developing"))',
            "fetch": "Name,OrderIndex",
        },
        timeout=TIMEOUT,
    ).json()["QueryResult"]["Results"]
    path, _ = hook(ObjectTypes=["Feature"])

    update(sandbox, api, feature, {"State": developing["_ref"]})

    (body,) = receiver.wait_for(path, 1)
    change = by_name(body["message"]["changes"])["State"]
    assert change["type"] == "State"
    assert change["value"]["name"] == "Developing"
    assert change["value"]["order_index"] == developing["OrderIndex"]
    assert change["value"]["object_type"] == "State"


def test_only_changes_matching_the_expressions_are_delivered(sandbox, api, hook, receiver):
    path, _ = hook(
        ObjectTypes=["HierarchicalRequirement"],
        Expressions=[{"AttributeName": "PlanEstimate", "Operator": ">", "Value": 10}],
    )
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Small", "PlanEstimate": 3})
    create(
        sandbox,
        api,
        "Task",
        {
            "Name": "Task",
            "WorkProduct": create(
                sandbox, api, "HierarchicalRequirement", {"Name": "Parent", "PlanEstimate": 1}
            )["_ref"],
        },
    )
    big = create(sandbox, api, "HierarchicalRequirement", {"Name": "Big", "PlanEstimate": 13})

    (body,) = receiver.wait_for(path, 1)
    # Deliveries are queued in commit order: had the others matched, they would be first.
    assert body["message"]["object_id"] == big["_refObjectUUID"]
    assert len(receiver.bodies(path)) == 1


def test_the_project_operator_matches_the_project_and_its_children(sandbox, api, hook, receiver):
    platform = project(sandbox, api, "Platform")
    path, _ = hook(Expressions=[{"Operator": "project", "Value": platform["_refObjectUUID"]}])

    create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {"Name": "Mobile story", "Project": project(sandbox, api, "Mobile")["_ref"]},
    )
    child = create(
        sandbox,
        api,
        "HierarchicalRequirement",
        {
            "Name": "Team A story",
            "Project": project(sandbox, api, TEAM_A)["_ref"],
        },
    )

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == child["_refObjectUUID"]


def test_the_changed_operator_fires_only_when_that_field_changed(sandbox, api, hook, receiver):
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Watch me"})
    path, _ = hook(Expressions=[{"AttributeName": "ScheduleState", "Operator": "changed"}])

    update(sandbox, api, story, {"Name": "Renamed only"})
    update(sandbox, api, story, {"ScheduleState": "In-Progress"})

    (body,) = receiver.wait_for(path, 1)
    state_change = by_name(body["message"]["changes"])["ScheduleState"]
    assert state_change["value"]["name"] == "In-Progress"
    assert state_change["old_value"]["name"] == "Defined"
    assert "Name" not in by_name(body["message"]["changes"])


def test_an_expression_may_name_its_attribute_by_id(sandbox, api, hook, receiver):
    path, _ = hook(Expressions=[{"AttributeID": NAME_ID, "Operator": "=", "Value": "By id"}])
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Not this"})
    wanted = create(sandbox, api, "HierarchicalRequirement", {"Name": "By id"})

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == wanted["_refObjectUUID"]


def test_a_failing_receiver_gets_retries_until_it_answers(sandbox, api, hook, receiver):
    path, webhook = hook()
    receiver.answers[path] = [500, 503, 200]

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Retried"})

    bodies = receiver.wait_for(path, 3)
    assert len({body["message"]["message_id"] for body in bodies}) == 1
    delivery = wait_until(
        lambda: _delivery(sandbox, webhook, status="delivered"),
        timeout=WAIT_SECONDS,
        interval=0.1,
        what=lambda: f"the delivery delivered: {_delivery(sandbox, webhook)}",
    )
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    rule = api.get(webhook["_ref"], timeout=TIMEOUT).json()
    assert (rule["FireCount"], rule["ErrorCount"], rule["LastStatus"]) == (3, 2, 200)
    assert rule["LastSuccess"] and rule["LastFailure"]


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_retry(
    sandbox, api, hook, receiver
):
    path, webhook = hook()
    receiver.answers[path] = [500]

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Never delivered"})

    receiver.wait_for(path, len(RETRY_DELAYS) + 1)
    delivery = wait_until(
        lambda: _delivery(sandbox, webhook, status="failed"),
        timeout=WAIT_SECONDS,
        interval=0.1,
        what=lambda: f"the delivery failed: {_delivery(sandbox, webhook)}",
    )
    assert len(delivery["attempts"]) == len(RETRY_DELAYS) + 1
    assert len(receiver.bodies(path)) == len(RETRY_DELAYS) + 1


def test_an_unreachable_receiver_is_recorded_as_a_failed_attempt(sandbox, api, hook):
    _, webhook = hook()
    answer = api.patch(webhook["_ref"], json={"TargetUrl": "http://127.0.0.1:9/down"})
    assert answer.status_code == 200

    create(sandbox, api, "HierarchicalRequirement", {"Name": "Nobody listens"})

    def attempted() -> list[dict]:
        mine = [d for d in deliveries(sandbox) if d["webhook"] == webhook["ObjectUUID"]]
        return mine[0]["attempts"] if mine else []

    attempts = wait_until(attempted, timeout=WAIT_SECONDS, interval=0.1, what="an attempt")
    assert attempts[0]["status_code"] is None
    assert "ConnectionError" in attempts[0]["error"]


def test_a_hanging_receiver_does_not_hold_up_the_write(sandbox, api, hook, receiver):
    path, _ = hook()
    gate = receiver.hold[path] = threading.Event()
    try:
        create(sandbox, api, "HierarchicalRequirement", {"Name": "First"})
        # The delivery of the first is now stuck in the receiver; writes still answer.
        answer = api.post(
            f"{sandbox.wsapi_url}/HierarchicalRequirement/create",
            json={"HierarchicalRequirement": {"Name": "Second"}},
            timeout=5,
        )
        assert answer.json()["CreateResult"]["Errors"] == []
    finally:
        gate.set()
    assert len(receiver.wait_for(path, 2)) == 2


def test_a_disabled_webhook_delivers_nothing(sandbox, api, hook, receiver):
    path, webhook = hook()
    assert api.patch(webhook["_ref"], json={"Disabled": True}).json()["Disabled"] is True
    create(sandbox, api, "HierarchicalRequirement", {"Name": "Unseen"})
    api.patch(webhook["_ref"], json={"Disabled": False})
    seen = create(sandbox, api, "HierarchicalRequirement", {"Name": "Seen"})

    (body,) = receiver.wait_for(path, 1)
    assert body["message"]["object_id"] == seen["_refObjectUUID"]


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


def test_a_post_and_an_attachment_are_delivered_as_updates_of_their_artifact(
    sandbox, api, hook, receiver
):
    """Our choice where no source says (rally_sandbox/wsapi/discussion.py): the artifact's
    webhooks hear an "Updated" whose change names the collection and the member added."""
    path, _webhook = hook()
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Discussed"})
    receiver.wait_for(path, 1)  # its creation
    text = {"Artifact": story["_ref"], "Text": "<p>Hi</p>"}
    post = create(sandbox, api, "ConversationPost", text)
    encoded = {"Content": base64.b64encode(b"x").decode()}
    content = create(sandbox, api, "AttachmentContent", encoded)
    attachment = create(
        sandbox, api, "Attachment",
        {"Name": "x.txt", "Content": content["_ref"], "Size": 1, "Artifact": story["_ref"]},
    )  # fmt: skip
    delete(api, post)

    bodies = receiver.wait_for(path, 4)[1:]
    changes = [by_name(body["message"]["changes"]) for body in bodies]
    assert [body["message"]["action"] for body in bodies] == ["Updated"] * 3
    assert [body["message"]["object_id"] for body in bodies] == [story["_refObjectUUID"]] * 3
    discussion, attachments, removed = changes
    assert discussion["Discussion"]["added"][0]["ref"].endswith(post["_refObjectUUID"])
    assert attachments["Attachments"]["added"][0]["ref"].endswith(attachment["_refObjectUUID"])
    assert removed["Discussion"]["removed"][0]["ref"].endswith(post["_refObjectUUID"])


def test_a_post_s_edit_is_delivered_as_an_update_of_its_artifact(sandbox, api, hook, receiver):
    """Our choice, as for a new post: an "Updated" of the artifact naming its Discussion."""
    path, _webhook = hook()
    story = create(sandbox, api, "HierarchicalRequirement", {"Name": "Edited post"})
    post = create(sandbox, api, "ConversationPost", {"Artifact": story["_ref"], "Text": "<p>a</p>"})
    answer = api.post(
        post["_ref"], json={"ConversationPost": {"Text": "<p>b</p>"}}, timeout=TIMEOUT
    )
    assert answer.json()["OperationResult"]["Errors"] == []

    bodies = receiver.wait_for(path, 3)[1:]
    assert [body["message"]["action"] for body in bodies] == ["Updated"] * 2
    assert [body["message"]["object_id"] for body in bodies] == [story["_refObjectUUID"]] * 2
    assert "Discussion" in by_name(bodies[1]["message"]["changes"])
