"""Playwright fixtures: one headless Chromium (Debian's, never a download) for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
# database access from the test body ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every wait in a browser test is bounded by this, in milliseconds.
TIMEOUT_MS = 10_000
SCREENSHOTS = os.environ.get("AHARALLY_SCREENSHOTS", "")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# Every page reports what its Content Security Policy blocked, to the console.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI
    + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def is_csp_violation(text: str) -> bool:
    return "CSP violation" in text or "Content Security Policy" in text


def watch_csp_violations(page) -> None:
    """Collect what the page's Content Security Policy blocked in `page.csp_violations`."""
    page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            page.csp_violations.append(f"{page.url}: {message.text}")
            if is_csp_violation(message.text)
            else None
        ),
    )


@pytest.fixture
def page(browser, live_server, transactional_db):
    """A page whose test fails when the Content Security Policy blocked anything on it
    (tests that provoke a violation on purpose empty `page.csp_violations`)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    watch_csp_violations(page)
    try:
        yield page
        assert page.csp_violations == [], "\n".join(page.csp_violations)
    finally:
        context.close()


@pytest.fixture
def screenshot(page):
    """Save a screenshot under $AHARALLY_SCREENSHOTS when it is set (to look at the pages)."""

    def take(name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))

    return take


def sign_in(page, email: str, password: str, *, next_url: str) -> None:
    """Sign in through the real allauth page, as a person would."""
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.locator("form").filter(has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    page.wait_for_url(f"**{next_url}")


@pytest.fixture
def hooked_cluster(settings, live_server, transactional_db):
    """A task cluster that registers Rally's webhooks at this test's live server."""
    from tests.sync.cluster import TaskCluster

    settings.SITE_URL = live_server.url
    cluster = TaskCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_with_files(settings, live_server, transactional_db, tmp_path):
    """A task cluster that stores files where this test's live server serves them from, and
    registers Rally's webhooks at the live server."""
    from tests.sync.cluster import TaskCluster

    files = tmp_path / "attachments"
    settings.MEDIA_ROOT = str(files)
    settings.SITE_URL = live_server.url
    cluster = TaskCluster(env={"ATTACHMENTS_DIR": str(files)}).start()
    try:
        yield cluster
    finally:
        cluster.stop()
