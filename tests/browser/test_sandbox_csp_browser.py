"""The sandbox's pages render under its Content Security Policy without a single violation.

The policy allows no inline style or script (`style-src 'self'`, `script-src 'none'`), so any
`<style>` block, `style="…"` attribute or inline handler left on a page shows up here as a
`securitypolicyviolation` event. Lives here for the session's one Chromium (`browser` fixture);
touches only the sandbox. With $AHARALLY_SCREENSHOTS set, saves a screenshot of every page.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import (
    REPORT_CSP_VIOLATIONS,
    SCREENSHOTS,
    TIMEOUT_MS,
    watch_csp_violations,
)

pytestmark = pytest.mark.sandbox_only

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
ADMIN = "pm@example.com"


@pytest.fixture
def sandbox_page(browser, rally_sandbox):
    context = browser.new_context(
        base_url=rally_sandbox.base_url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    # The consent's redirect goes to a client that is not there: answer it in the browser.
    context.route(f"{REDIRECT_URI}*", lambda route: route.fulfill(status=200, body="callback"))
    page = context.new_page()
    watch_csp_violations(page)
    try:
        yield page
    finally:
        context.close()


def look(page, name: str) -> None:
    """Let the page settle (stylesheet loaded, events reported), then screenshot it if asked."""
    page.wait_for_load_state("load")
    # Events are dispatched asynchronously; a round trip through the page lets them arrive.
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 50))")
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"sandbox-{name}.png"), full_page=True)


def first(rally_sandbox, type_path: str, query: str) -> dict:
    response = rally_sandbox.session().get(
        f"{rally_sandbox.wsapi_url}/{type_path}",
        params={"query": query, "fetch": "ObjectID,FormattedID,Name,Project"},
        timeout=30,
    )
    return response.json()["QueryResult"]["Results"][0]


def test_every_main_sandbox_page_renders_without_a_policy_violation(sandbox_page, rally_sandbox):
    page = sandbox_page
    marker = uuid.uuid4().hex[:10]
    client = {"client_id": f"csp-{marker}", "client_secret": f"secret-{marker}-0123456789"}
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/oauth-clients",
        json={"name": f"CSP app {marker}", "redirect_uris": [REDIRECT_URI], **client},
    )
    assert answer.status_code == 201, answer.text
    story = first(rally_sandbox, "hierarchicalrequirement", "(FormattedID = US1)")
    feature = first(rally_sandbox, "portfolioitem/feature", '(Name = "Single sign-on")')
    release = first(rally_sandbox, "release", '(Name = "2026 Q4")')
    project_oid = story["Project"]["_ref"].rstrip("/").rsplit("/", 1)[-1]

    page.goto("/sandbox/")
    page.wait_for_url("**/login/oauth2/login?next=*")
    look(page, "login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", rally_sandbox.users[ADMIN])
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/sandbox/")
    look(page, "home")

    for path, name in [
        (f"/sandbox/projects/{project_oid}/", "project"),
        (f"/sandbox/items/{story['ObjectID']}/", "story"),
        (f"/sandbox/items/{feature['ObjectID']}/", "feature"),
        (f"/sandbox/releases/{release['ObjectID']}/", "release"),
        ("/sandbox/faults", "faults"),
        ("/sandbox/required-fields", "required-fields"),
        ("/sandbox/custom-fields", "custom-fields"),
    ]:
        response = page.goto(path)
        assert response.status == 200, path
        look(page, name)
    # A form's errors render too.
    page.goto(f"/sandbox/items/{story['ObjectID']}/")
    page.fill("input[name=name]", "")
    page.evaluate("() => document.querySelectorAll('[required]').forEach(e => e.required = false)")
    page.locator("button", has_text="Save").click()
    look(page, "item-errors")

    query = urlencode(
        {
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "alm",
            "state": marker,
        }
    )
    page.goto(f"/login/oauth2/auth?{query}")
    assert page.get_by_role("button", name="Allow access").is_visible()
    look(page, "consent")
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url(f"{REDIRECT_URI}*")
    page.goto("/login/oauth2/applications")
    assert page.get_by_role("button", name=f"Revoke CSP app {marker}").is_visible()
    look(page, "applications")
    page.goto("/login/oauth2/auth?client_id=nobody&response_type=code")
    look(page, "oauth-error")

    # The stylesheet did apply (the same look as the inline styles had).
    page.goto("/sandbox/")
    header = page.locator("header")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(26, 43, 74)"
    assert page.csp_violations == [], "\n".join(page.csp_violations)
