"""The sandbox's web UI: sign in, browse a project, edit, add children, delete."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.waiting import wait_until

pytestmark = pytest.mark.sandbox_only


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def browser(rally_sandbox):
    """A signed-in browser session of the developer."""
    session = requests.Session()
    login = session.get(f"{rally_sandbox.base_url}/sandbox/")
    assert "/login/oauth2/login" in login.url
    response = session.post(
        f"{rally_sandbox.base_url}/login/oauth2/login",
        data={
            "csrfmiddlewaretoken": csrf(login.text),
            "username": "developer@example.com",
            "password": rally_sandbox.users["developer@example.com"],
            "next": "/sandbox/",
        },
        headers={"Referer": login.url},
    )
    assert response.status_code == 200 and response.url.endswith("/sandbox/")
    session.base = rally_sandbox.base_url
    return session


def post(browser, path: str, page: str, **data) -> requests.Response:
    return browser.post(
        f"{browser.base}{path}",
        data={"csrfmiddlewaretoken": csrf(page), **data},
        headers={"Referer": f"{browser.base}{path}"},
    )


def project_path(browser, name: str) -> str:
    home = browser.get(f"{browser.base}/sandbox/").text
    return re.search(rf'href="(/sandbox/projects/\d+/)">{re.escape(name)}<', home).group(1)


def test_pages_need_a_signed_in_user(rally_sandbox):
    response = requests.get(f"{rally_sandbox.base_url}/sandbox/projects/1/", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login/oauth2/login?next=")


def test_a_project_page_lists_its_portfolio_stories_and_defects(browser):
    page = browser.get(f"{browser.base}{project_path(browser, 'Platform')}").text
    for text in (
        "Single sign-on",
        "Sign in with the company identity provider",
        "Login page shows a blank screen on Safari",
        "Developing",
    ):
        assert text in page


def test_a_developer_plays_the_team_through_the_ui(browser, rally_sandbox):
    api = rally_sandbox.session()
    marker = uuid.uuid4().hex[:6]
    project = project_path(browser, "Platform")
    page = browser.get(f"{browser.base}{project}").text
    created = post(
        browser, f"{project}new", page, kind="HierarchicalRequirement", name=f"UI story {marker}"
    )
    assert created.status_code == 200 and "/sandbox/items/" in created.url
    item_path = created.url.replace(browser.base, "")
    oid = re.search(r"/items/(\d+)/", item_path).group(1)

    feature = api.get(
        f"{rally_sandbox.wsapi_url}/portfolioitem/feature",
        params={"query": '(Name = "Single sign-on")'},
    ).json()
    feature_oid = feature["QueryResult"]["Results"][0]["_ref"].rsplit("/", 1)[1]
    release = api.get(
        f"{rally_sandbox.wsapi_url}/release",
        params={"query": '((Name = "2026 Q4") AND (Project.Name = "Mobile"))'},
    ).json()
    release_oid = release["QueryResult"]["Results"][0]["_ref"].rsplit("/", 1)[1]
    mobile = project_path(browser, "Mobile").split("/")[-2]
    edited = post(
        browser,
        item_path,
        created.text,
        name=f"UI story {marker} renamed",
        state="In-Progress",
        release=f"/release/{release_oid}",
        project=f"/project/{mobile}",
        parent=f"/portfolioitem/feature/{feature_oid}",
    )
    assert edited.status_code == 200 and "Saved US" in edited.text

    story = api.get(f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/{oid}").json()[
        "HierarchicalRequirement"
    ]
    assert story["Name"] == f"UI story {marker} renamed"
    assert story["ScheduleState"] == "In-Progress"
    assert story["Project"]["_refObjectName"] == "Mobile"
    assert story["Release"]["_refObjectName"] == "2026 Q4"
    assert story["PortfolioItem"]["_refObjectName"] == "Single sign-on"
    assert story["_objectVersion"] == "2"

    task = post(browser, f"{item_path}children", edited.text, kind="task", name="UI task")
    assert "Added TA" in task.text and "UI task" in task.text
    child = post(browser, f"{item_path}children", task.text, kind="story", name="UI child")
    assert "Added US" in child.text
    read = api.get(f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/{oid}").json()
    assert read["HierarchicalRequirement"]["Tasks"]["Count"] == 1
    assert read["HierarchicalRequirement"]["Children"]["Count"] == 1

    deleted = post(browser, f"{item_path}delete", child.text)
    assert deleted.status_code == 200 and "Deleted US" in deleted.text
    gone = api.get(f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/{oid}").json()
    assert gone["OperationResult"]["Errors"] == ["Cannot find object to read"]


def test_a_refused_edit_shows_rallys_error_and_saves_nothing(browser):
    project = project_path(browser, "Platform")
    page = browser.get(f"{browser.base}{project}").text
    created = post(browser, f"{project}new", page, kind="HierarchicalRequirement", name="top")
    item_path = created.url.replace(browser.base, "")
    child = post(browser, f"{item_path}children", created.text, kind="story", name="below")
    child_oid = re.findall(r'href="/sandbox/items/(\d+)/">US', child.text)[-1]
    platform = re.search(r'<option value="(/project/\d+)"[^>]*>Platform</option>', child.text)
    refused = post(
        browser,
        item_path,
        child.text,
        name="top renamed",
        state="Defined",
        project=platform.group(1),
        parent=f"/hierarchicalrequirement/{child_oid}",
    )
    assert refused.status_code == 400
    assert "Parent cannot be the story itself or one of its children" in refused.text
    assert "top renamed" not in refused.text.split("<form")[0]
    assert "top renamed" not in browser.get(created.url).text.split("<form")[0]


class _Receiver:
    """Records webhook deliveries on a loopback port."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                with receiver.lock:
                    receiver.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, predicate, seconds: float = 20) -> dict:
        def matching() -> dict | None:
            with self.lock:
                return next((body for body in self.bodies if predicate(body)), None)

        return wait_until(
            matching,
            timeout=seconds,
            interval=0.05,
            what=lambda: f"a matching delivery (none among {len(self.bodies)})",
        )


def test_ui_edits_reach_webhooks_with_old_and_new_values(browser, rally_sandbox):
    receiver = _Receiver()
    admin = rally_sandbox.session(rally_sandbox.admin_key)
    hooks = f"{rally_sandbox.base_url}/apps/pigeon/api/v2/webhook"
    webhook = admin.post(
        hooks,
        json={
            "AppName": "UI test",
            "AppUrl": receiver.url,
            "Name": "UI edits",
            "TargetUrl": receiver.url,
            "ObjectTypes": ["HierarchicalRequirement"],
        },
    )
    assert webhook.status_code == 201, webhook.text
    try:
        project = project_path(browser, "Platform")
        page = browser.get(f"{browser.base}{project}").text
        name = f"hooked {uuid.uuid4().hex[:6]}"
        created = post(browser, f"{project}new", page, kind="HierarchicalRequirement", name=name)
        item_path = created.url.replace(browser.base, "")
        platform = re.search(r'<option value="(/project/\d+)"[^>]*>Platform</option>', created.text)
        post(
            browser,
            item_path,
            created.text,
            name=f"{name} v2",
            state="Defined",
            project=platform.group(1),
        )

        def updated(body: dict) -> bool:
            message = body["message"]
            return message["action"] == "Updated" and any(
                change.get("value") == f"{name} v2" for change in message["changes"].values()
            )

        message = receiver.wait_for(updated)["message"]
        (name_change,) = [c for c in message["changes"].values() if c["name"] == "Name"]
        assert name_change["old_value"] == name
        assert message["transaction"]["user"]["username"] == "developer@example.com"
        created_message = receiver.wait_for(
            lambda body: (
                body["message"]["action"] == "Created"
                and body["message"]["object_id"] == message["object_id"]
            )
        )
        assert created_message["message"]["changes"] == {}
    finally:
        admin.delete(f"{hooks}/{webhook.json()['ObjectUUID']}")
        receiver.server.shutdown()
        receiver.server.server_close()


def test_deleting_a_story_in_the_ui_tells_webhooks_about_it_and_its_tasks(browser, rally_sandbox):
    receiver = _Receiver()
    admin = rally_sandbox.session(rally_sandbox.admin_key)
    hooks = f"{rally_sandbox.base_url}/apps/pigeon/api/v2/webhook"
    webhook = admin.post(
        hooks,
        json={
            "AppName": "UI test",
            "AppUrl": receiver.url,
            "Name": "UI deletes",
            "TargetUrl": receiver.url,
            "ObjectTypes": ["HierarchicalRequirement", "Task"],
        },
    )
    assert webhook.status_code == 201, webhook.text
    try:
        project = project_path(browser, "Platform")
        page = browser.get(f"{browser.base}{project}").text
        created = post(
            browser,
            f"{project}new",
            page,
            kind="HierarchicalRequirement",
            name=f"doomed {uuid.uuid4().hex[:6]}",
        )
        item_path = created.url.replace(browser.base, "")
        with_task = post(browser, f"{item_path}children", created.text, kind="task", name="t")
        post(browser, f"{item_path}delete", with_task.text)

        def deleted(object_type: str):
            return lambda body: (
                body["message"]["action"] == "Deleted"
                and body["message"]["object_type"] == object_type
            )

        story = receiver.wait_for(deleted("HierarchicalRequirement"))["message"]
        task = receiver.wait_for(deleted("Task"))["message"]
        assert story["transaction"]["user"]["username"] == "developer@example.com"
        assert task["project"]["name"] == "Platform"
    finally:
        admin.delete(f"{hooks}/{webhook.json()['ObjectUUID']}")
        receiver.server.shutdown()
        receiver.server.server_close()


def test_the_developer_replies_and_attaches_on_an_items_page(browser, rally_sandbox):
    api = rally_sandbox.session()
    wsapi = rally_sandbox.wsapi_url
    feature = api.post(
        f"{wsapi}/portfolioitem/feature/create",
        json={"Feature": {"Name": f"Talked about {uuid.uuid4().hex[:6]}"}},
    ).json()["CreateResult"]["Object"]
    api.post(
        f"{wsapi}/conversationpost/create",
        json={"ConversationPost": {"Artifact": feature["_ref"], "Text": "<p>Why SAML?</p>"}},
    )
    oid = feature["_ref"].rsplit("/", 1)[1]
    item = f"/sandbox/items/{oid}/"
    page = browser.get(f"{browser.base}{item}").text
    assert "Why SAML?" in page and "#1" in page

    replied = post(browser, f"{item}discussion", page, text="Because the customer asked.")
    assert "Posted #2." in replied.text
    assert "<p>Because the customer asked.</p>" in replied.text
    data = b"2026-12-06 ERROR something\n"
    attached = browser.post(
        f"{browser.base}{item}attachments",
        data={"csrfmiddlewaretoken": csrf(replied.text)},
        files={"file": ("error.log", data, "text/plain")},
        headers={"Referer": f"{browser.base}{item}"},
    )
    assert "Attached error.log." in attached.text
    link = re.search(rf'href="({re.escape(item)}attachments/\d+)">error.log<', attached.text)
    download = browser.get(f"{browser.base}{link.group(1)}")
    assert download.content == data
    assert download.headers["Content-Disposition"] == 'attachment; filename="error.log"'

    # What the UI did is what WSAPI clients read.
    read = api.get(feature["_ref"]).json()["Feature"]
    assert (read["Discussion"]["Count"], read["Attachments"]["Count"]) == (2, 1)
    posts = api.get(read["Discussion"]["_ref"], params={"fetch": "User,PostNumber"}).json()
    assert posts["QueryResult"]["Results"][1]["User"]["_refObjectName"] != ""

    empty = post(browser, f"{item}discussion", attached.text, text="  ")
    assert "Write something to post." in empty.text

    # The developer deletes the first post and the file: WSAPI clients see them gone.
    first = re.search(rf'action="({re.escape(item)}discussion/\d+/delete)"', empty.text)
    gone = post(browser, first.group(1), empty.text)
    assert "Deleted post #1." in gone.text and "Why SAML?" not in gone.text
    file = re.search(rf'action="({re.escape(item)}attachments/\d+/delete)"', gone.text)
    gone = post(browser, file.group(1), gone.text)
    assert "Deleted error.log." in gone.text
    read = api.get(feature["_ref"]).json()["Feature"]
    assert (read["Discussion"]["Count"], read["Attachments"]["Count"]) == (1, 0)
    # The session's sandbox is shared: leave no top-level feature behind.
    assert api.delete(feature["_ref"]).json()["OperationResult"]["Errors"] == []


def test_an_items_children_are_listed_in_rank_order(browser, rally_sandbox):
    api = rally_sandbox.session()
    marker = uuid.uuid4().hex[:6]
    project = project_path(browser, "Platform")
    page = browser.get(f"{browser.base}{project}").text
    parent = post(browser, f"{project}new", page, kind="HierarchicalRequirement", name=marker)
    item_path = parent.url.replace(browser.base, "")
    first = post(browser, f"{item_path}children", parent.text, kind="story", name=f"{marker} one")
    second = post(browser, f"{item_path}children", first.text, kind="story", name=f"{marker} two")
    oids = dict(
        (name, oid)
        for oid, name in re.findall(
            r"/sandbox/items/(\d+)/\">US\d+</a></td>\s*<td>([^<]+)<", second.text
        )
    )
    first_oid, second_oid = oids[f"{marker} one"], oids[f"{marker} two"]
    moved = api.post(
        f"{rally_sandbox.wsapi_url}/hierarchicalrequirement/{second_oid}",
        params={"rankAbove": f"/hierarchicalrequirement/{first_oid}"},
        json={"hierarchicalrequirement": {}},
    ).json()
    assert moved["OperationResult"]["Errors"] == []
    page = browser.get(f"{browser.base}{item_path}").text
    children = page[page.index("<h2>Children</h2>") :]  # the form's Parent list comes first
    assert children.index(f"{marker} two") < children.index(f"{marker} one")


def test_the_favicon_is_an_icon_not_a_404(rally_sandbox):
    response = requests.get(f"{rally_sandbox.base_url}/favicon.ico")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in response.content


def test_an_items_page_states_rallys_file_limit_in_rallys_units(browser):
    page = browser.get(f"{browser.base}{project_path(browser, 'Platform')}").text
    item = re.search(r'href="(/sandbox/items/\d+/)"', page).group(1)
    assert "Attach a file (up to 50 MB)" in browser.get(f"{browser.base}{item}").text
