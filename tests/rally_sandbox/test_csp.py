"""Every HTML page of the sandbox comes with a Content Security Policy that allows nothing inline.

The pages take their look from the sandbox's own stylesheets (static files, through WhiteNoise):
no `<style>` block, `style="…"` attribute, inline script or `on…=` handler is left to allow.
The browser side (no violation reported while the pages render) is in
tests/browser/test_sandbox_csp_browser.py.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest
import requests

from tests.rally_sandbox.test_faults_page import signed_in

pytestmark = pytest.mark.sandbox_only

TIMEOUT = 30
ADMIN = "pm@example.com"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
INLINE = [
    re.compile(r"<style", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"<script(?![^>]*\ssrc=)", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
    re.compile(r"javascript:", re.I),
]


def oid_of(sandbox, type_path: str, query: str, fetch: str = "ObjectID") -> dict:
    found = sandbox.session().get(
        f"{sandbox.wsapi_url}/{type_path}", params={"query": query, "fetch": fetch}, timeout=TIMEOUT
    )
    return found.json()["QueryResult"]["Results"][0]


@pytest.fixture(scope="module")
def pages(rally_sandbox) -> dict[str, requests.Response]:
    """Every kind of HTML page the sandbox serves, as a signed-in administrator sees it."""
    base = rally_sandbox.base_url
    marker = uuid.uuid4().hex[:10]
    client = {"client_id": f"csp-{marker}", "client_secret": f"secret-{marker}-0123456789"}
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/oauth-clients",
        json={"name": f"CSP app {marker}", "redirect_uris": [REDIRECT_URI], **client},
    )
    assert answer.status_code == 201, answer.text
    story = oid_of(
        rally_sandbox, "hierarchicalrequirement", "(FormattedID = US1)", "ObjectID,Project"
    )
    feature = oid_of(rally_sandbox, "portfolioitem/feature", '(Name = "Single sign-on")')
    release = oid_of(rally_sandbox, "release", '(Name = "2026 Q4")')
    project = story["Project"]["_ref"].rstrip("/").rsplit("/", 1)[-1]
    consent = urlencode(
        {
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "alm",
            "state": marker,
        }
    )

    anonymous = requests.Session()
    admin = signed_in(rally_sandbox, ADMIN)
    found = {
        "root": anonymous.get(f"{base}/", timeout=TIMEOUT),
        "login": anonymous.get(f"{base}/login/oauth2/login", timeout=TIMEOUT),
        "wsapi 401": anonymous.get(f"{rally_sandbox.wsapi_url}/defect", timeout=TIMEOUT),
        "oauth error": admin.get(f"{base}/login/oauth2/auth?client_id=nobody", timeout=TIMEOUT),
        "consent": admin.get(f"{base}/login/oauth2/auth?{consent}", timeout=TIMEOUT),
        "applications": admin.get(f"{base}/login/oauth2/applications", timeout=TIMEOUT),
        "home": admin.get(f"{base}/sandbox/", timeout=TIMEOUT),
        "project": admin.get(f"{base}/sandbox/projects/{project}/", timeout=TIMEOUT),
        "story": admin.get(f"{base}/sandbox/items/{story['ObjectID']}/", timeout=TIMEOUT),
        "feature": admin.get(f"{base}/sandbox/items/{feature['ObjectID']}/", timeout=TIMEOUT),
        "release": admin.get(f"{base}/sandbox/releases/{release['ObjectID']}/", timeout=TIMEOUT),
        "faults": admin.get(f"{base}/sandbox/faults", timeout=TIMEOUT),
        "required fields": admin.get(f"{base}/sandbox/required-fields", timeout=TIMEOUT),
    }
    token = admin.cookies["rally_sandbox_csrftoken"]
    for name, path, data in [
        ("project form errors", f"/sandbox/projects/{project}/new", {"kind": "x", "name": ""}),
        ("faults form errors", "/sandbox/faults/add", {"kind": "status", "status": "99"}),
        ("required fields errors", "/sandbox/required-fields/add", {"type": "Nope", "field": "X"}),
    ]:
        found[name] = admin.post(
            base + path,
            data={"csrfmiddlewaretoken": token, **data},
            headers={"Referer": base},
            timeout=TIMEOUT,
        )
    # Django's own page for a form sent without its CSRF token.
    found["csrf failure"] = anonymous.post(f"{base}/login/oauth2/login", timeout=TIMEOUT)
    assert found["csrf failure"].status_code == 403
    for name, response in found.items():
        assert "text/html" in response.headers["Content-Type"], name
    return found


@pytest.mark.parametrize(
    "name",
    [
        "root",
        "login",
        "oauth error",
        "consent",
        "applications",
        "home",
        "project",
        "story",
        "feature",
        "release",
        "faults",
        "required fields",
        "project form errors",
        "faults form errors",
        "required fields errors",
        "csrf failure",
    ],
)
def test_the_page_has_a_policy_without_unsafe_inline(pages, name):
    response = pages[name]
    assert response.status_code < 500, response.text[:500]
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    directives = {}
    for part in filter(None, (part.strip() for part in policy.split(";"))):
        directive, _, sources = part.partition(" ")
        directives[directive] = sources
    if name != "root":
        assert directives["style-src"] == "'self'"
        assert directives["script-src"] == "'none'"


def test_no_page_holds_inline_styles_or_scripts(pages):
    for name, response in pages.items():
        for pattern in INLINE:
            assert not pattern.search(response.text), f"{name}: {pattern.pattern}"


def test_the_error_pages_carry_no_unsafe_inline_either(pages):
    policy = pages["wsapi 401"].headers.get("Content-Security-Policy", "")
    assert "unsafe-inline" not in policy


def test_the_pages_stylesheets_are_served_as_css(rally_sandbox, pages):
    sheets = set()
    for name in ("login", "consent", "home", "faults"):
        (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', pages[name].text)
        sheets.add(href)
    assert len(sheets) == 2  # the OAuth pages' and the web UI's
    for href in sheets:
        served = requests.get(rally_sandbox.base_url + href, timeout=TIMEOUT)
        assert served.status_code == 200, href
        assert served.headers["Content-Type"].startswith("text/css")
        assert "header" in served.text and ".brand" in served.text
