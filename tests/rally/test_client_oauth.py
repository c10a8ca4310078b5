"""OAuth against the sandbox: tokens that expire mid-run are refreshed and handed back."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from aharally.rally import OAuthToken, RallyAuthError, RallyClient
from tests.rally.conftest import RequestLog
from tests.rally_sandbox.oauth_flow import authorize

pytestmark = pytest.mark.sandbox_only

USER = "developer@example.com"
REDIRECT_URI = "http://127.0.0.1:9/rally/callback"


@pytest.fixture
def oauth_app(admin, marker) -> dict[str, str]:
    """An OAuth client registered in the sandbox for this test alone."""
    app = {"client_id": f"client-{marker}", "client_secret": f"secret-{marker}"}
    name = f"Test {app['client_id']}"
    admin.register_oauth_client(name=name, redirect_uris=[REDIRECT_URI], **app)
    return app


def grant(sandbox, app) -> dict:
    """Sign in as the developer and consent, as a person would; returns the token response."""
    return authorize(
        sandbox.base_url,
        redirect_uri=REDIRECT_URI,
        username=USER,
        password=sandbox.users[USER],
        **app,
    )


def credential(tokens, app, stored, **overrides) -> OAuthToken:
    options = {
        "refresh_token": tokens["refresh_token"],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "on_refresh": stored.append,
    }
    options.update(overrides)
    return OAuthToken(tokens["access_token"], **options)


def who(client: RallyClient) -> str:
    return client.current_user(fetch=["UserName"])["UserName"]


def test_a_token_that_expires_mid_run_is_refreshed_and_the_new_tokens_stored(
    rally_sandbox, admin, oauth_app, sleeps
):
    tokens = grant(rally_sandbox, oauth_app)
    stored = []
    token = credential(tokens, oauth_app, stored)
    with RallyClient(rally_sandbox.base_url, credential=token, sleep=sleeps.append) as client:
        log = RequestLog(client)
        assert who(client) == USER
        assert admin.expire_access_tokens(client_id=oauth_app["client_id"]) == 1
        assert who(client) == USER
    assert [path.split("?")[0] for _, path in log.sent] == [
        "/slm/webservice/v2.0/user",
        "/slm/webservice/v2.0/user",
        "/login/oauth2/token",
        "/slm/webservice/v2.0/user",
    ]
    assert log.statuses == [200, 401, 200, 200]
    (new,) = stored
    assert new.access_token != tokens["access_token"]
    assert new.refresh_token and new.refresh_token != tokens["refresh_token"]
    assert new.expires_at > time.time()
    assert token.tokens == new
    assert sleeps == []


def test_a_token_known_to_have_expired_is_refreshed_before_it_is_sent(
    rally_sandbox, admin, oauth_app
):
    tokens = grant(rally_sandbox, oauth_app)
    admin.expire_access_tokens(client_id=oauth_app["client_id"])
    stored = []
    token = credential(tokens, oauth_app, stored, expires_at=time.time() - 1)
    with RallyClient(rally_sandbox.base_url, credential=token) as client:
        log = RequestLog(client)
        assert who(client) == USER
    assert [path.split("?")[0] for _, path in log.sent] == [
        "/login/oauth2/token",
        "/slm/webservice/v2.0/user",
    ]
    assert len(stored) == 1


def test_threads_that_all_hit_the_expired_token_refresh_it_only_once(
    rally_sandbox, admin, oauth_app
):
    tokens = grant(rally_sandbox, oauth_app)
    stored = []
    token = credential(tokens, oauth_app, stored)
    errors: list[Exception] = []
    with RallyClient(rally_sandbox.base_url, credential=token) as client:
        assert who(client) == USER
        admin.expire_access_tokens(client_id=oauth_app["client_id"])
        barrier = threading.Barrier(8)

        def work():
            try:
                barrier.wait(timeout=30)
                assert who(client) == USER
            except Exception as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    # Rally rotates refresh tokens: a second refresh with the old one would have failed.
    assert len(stored) == 1


def test_a_revoked_grant_raises_the_auth_error_and_is_not_retried(
    rally_sandbox, admin, oauth_app, sleeps
):
    tokens = grant(rally_sandbox, oauth_app)
    stored = []
    token = credential(tokens, oauth_app, stored)
    with RallyClient(rally_sandbox.base_url, credential=token, sleep=sleeps.append) as client:
        assert who(client) == USER
        revoke_grant(rally_sandbox, USER, application=f"Test {oauth_app['client_id']}")
        log = RequestLog(client)
        with pytest.raises(RallyAuthError) as caught:
            who(client)
    assert caught.value.revoked
    assert caught.value.kind == "auth"
    assert [path.split("?")[0] for _, path in log.sent] == [
        "/slm/webservice/v2.0/user",
        "/login/oauth2/token",
    ]
    assert log.statuses == [401, 400]
    assert stored == [] and sleeps == []


def test_an_expired_token_without_the_means_to_refresh_is_an_auth_error(
    rally_sandbox, admin, oauth_app
):
    tokens = grant(rally_sandbox, oauth_app)
    admin.expire_access_tokens(client_id=oauth_app["client_id"])
    bare = OAuthToken(tokens["access_token"])
    with (
        RallyClient(rally_sandbox.base_url, credential=bare) as client,
        pytest.raises(RallyAuthError) as caught,
    ):
        who(client)
    assert not caught.value.revoked


def revoke_grant(sandbox, username: str, *, application: str) -> None:
    """Revoke one application's grant on the sandbox's "Authorized Applications" page."""
    http = requests.Session()
    login = sandbox.base_url + "/login/oauth2/login"
    applications = "/login/oauth2/applications"
    page = http.get(login, params={"next": applications}, timeout=30)
    http.post(
        login,
        data={
            "csrfmiddlewaretoken": _csrf(page.text),
            "username": username,
            "password": sandbox.users[username],
            "next": applications,
        },
        timeout=30,
    )
    page = http.get(sandbox.base_url + applications, timeout=30)
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, flags=re.DOTALL)
    (grant_id,) = [
        re.search(r"/login/oauth2/applications/(\d+)/revoke", row).group(1)
        for row in rows
        if f"<td>{application}</td>" in row
    ]
    response = http.post(
        f"{sandbox.base_url}{applications}/{grant_id}/revoke",
        data={"csrfmiddlewaretoken": _csrf(page.text)},
        timeout=30,
    )
    assert response.status_code == 200


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
