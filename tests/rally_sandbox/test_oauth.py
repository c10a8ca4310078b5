"""OAuth 2.0 in the sandbox, over real HTTP: login, consent, code, token, refresh, revoke."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.rally_sandbox.oauth_flow import (
    authorization_url,
    authorize,
    exchange_code,
    forms_in,
    get_code,
    refresh,
)
from tests.sandbox import RallySandbox

pytestmark = pytest.mark.sandbox_only

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
USER = "developer@example.com"
SAMPLES = Path(__file__).resolve().parent.parent / "rally" / "samples"


@pytest.fixture
def app(rally_sandbox) -> dict[str, str]:
    """A client registered for this test alone, so expiring its tokens touches nothing else."""
    marker = uuid.uuid4().hex[:10]
    app = {"client_id": f"test-{marker}", "client_secret": f"secret-{marker}-0123456789"}
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/oauth-clients",
        json={"name": name_of(app), "redirect_uris": [REDIRECT_URI], **app},
    )
    assert answer.status_code == 201, answer.text
    return app


def name_of(app: dict[str, str]) -> str:
    return f"Test app {app['client_id']}"


def revoke_form(html: str, app: dict[str, str]):
    (form,) = [f for f in forms_in(html) if f"Revoke {name_of(app)}" in f.buttons]
    return form


def tokens_for(sandbox, app, session=None) -> dict:
    return authorize(
        sandbox.base_url,
        redirect_uri=REDIRECT_URI,
        username=USER,
        password=sandbox.users[USER],
        session=session,
        **app,
    )


def current_user(sandbox, token: str) -> requests.Response:
    return requests.get(
        f"{sandbox.wsapi_url}/user?fetch=UserName", headers={"ZSESSIONID": token}, timeout=30
    )


def code_for(sandbox, app, session=None, **kwargs) -> str:
    query = get_code(
        sandbox.base_url,
        client_id=app["client_id"],
        redirect_uri=REDIRECT_URI,
        username=USER,
        password=sandbox.users[USER],
        session=session,
        **kwargs,
    )
    return query["code"][0]


def test_the_authorization_code_flow_gives_a_token_that_acts_as_the_user(rally_sandbox, app):
    tokens = tokens_for(rally_sandbox, app)

    assert set(tokens) >= {"access_token", "refresh_token", "expires_in", "token_type"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    answer = current_user(rally_sandbox, tokens["access_token"])
    assert answer.status_code == 200
    assert answer.json()["User"]["UserName"] == USER


def test_the_token_response_has_the_keys_of_rallys(rally_sandbox, app):
    sample = json.loads((SAMPLES / "oauth-token.json").read_text())
    tokens = tokens_for(rally_sandbox, app)
    assert set(sample) - {"id_token"} <= set(tokens)
    assert type(tokens["expires_in"]) is type(sample["expires_in"])


def test_the_login_page_asks_for_a_password_before_consent(rally_sandbox, app):
    page = requests.get(
        authorization_url(
            rally_sandbox.base_url,
            client_id=app["client_id"],
            redirect_uri=REDIRECT_URI,
            state="s1",
        ),
        timeout=30,
    )
    assert page.status_code == 200
    assert urlsplit(page.url).path == "/login/oauth2/login"
    (form,) = forms_in(page.text)
    assert {"username", "password", "next"} <= set(form.fields)
    assert page.headers["X-Frame-Options"] == "DENY"


def test_a_wrong_password_shows_the_login_page_again_with_an_error(rally_sandbox):
    session = requests.Session()
    page = session.get(f"{rally_sandbox.base_url}/login/oauth2/login", timeout=30)
    (form,) = forms_in(page.text)
    answer = session.post(
        page.url,
        data={**form.fields, "username": USER, "password": "not-the-password"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 401
    assert "incorrect" in answer.text
    assert "rally_sandbox_session" not in answer.cookies


def test_a_browser_already_signed_in_goes_straight_to_consent(rally_sandbox, app):
    session = requests.Session()
    tokens_for(rally_sandbox, app, session=session)

    page = session.get(
        authorization_url(
            rally_sandbox.base_url,
            client_id=app["client_id"],
            redirect_uri=REDIRECT_URI,
            state="again",
        ),
        allow_redirects=False,
        timeout=30,
    )
    assert page.status_code == 200
    assert "Allow access" in page.text
    assert not any("password" in form.fields for form in forms_in(page.text))


def test_an_expired_access_token_gets_401_and_refresh_gives_working_tokens(rally_sandbox, app):
    tokens = tokens_for(rally_sandbox, app)
    expired = rally_sandbox.admin(
        "POST", "/sandbox-admin/oauth/expire-access-tokens", json={"client_id": app["client_id"]}
    )
    assert expired.json() == {"expired": 1}
    assert current_user(rally_sandbox, tokens["access_token"]).status_code == 401

    answer = refresh(
        rally_sandbox.base_url,
        refresh_token=tokens["refresh_token"],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert answer.status_code == 200, answer.text
    new = answer.json()
    assert new["access_token"] != tokens["access_token"]
    assert new["refresh_token"] != tokens["refresh_token"]
    assert current_user(rally_sandbox, new["access_token"]).json()["User"]["UserName"] == USER


def test_a_refresh_token_works_only_once(rally_sandbox, app):
    tokens = tokens_for(rally_sandbox, app)
    options = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    first = refresh(rally_sandbox.base_url, refresh_token=tokens["refresh_token"], **options)
    assert first.status_code == 200

    again = refresh(rally_sandbox.base_url, refresh_token=tokens["refresh_token"], **options)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    newest = first.json()["refresh_token"]
    rotated = refresh(rally_sandbox.base_url, refresh_token=newest, **options)
    assert rotated.status_code == 200


def test_revoking_the_application_gets_401_on_the_wsapi_and_invalid_grant_on_refresh(
    rally_sandbox, app
):
    session = requests.Session()
    tokens = tokens_for(rally_sandbox, app, session=session)
    assert current_user(rally_sandbox, tokens["access_token"]).status_code == 200

    page = session.get(f"{rally_sandbox.base_url}/login/oauth2/applications", timeout=30)
    assert page.status_code == 200
    revoke = revoke_form(page.text, app)
    answer = session.post(
        rally_sandbox.base_url + revoke.action, data=revoke.fields, allow_redirects=True, timeout=30
    )
    assert answer.status_code == 200
    assert name_of(app) not in answer.text

    assert current_user(rally_sandbox, tokens["access_token"]).status_code == 401
    again = refresh(
        rally_sandbox.base_url,
        refresh_token=tokens["refresh_token"],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def signed_in(sandbox, username: str) -> requests.Session:
    session = requests.Session()
    login = session.get(f"{sandbox.base_url}/login/oauth2/login", timeout=30)
    (form,) = forms_in(login.text)
    answer = session.post(
        login.url,
        data={**form.fields, "username": username, "password": sandbox.users[username]},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302
    return session


def test_a_user_cannot_revoke_another_users_application(rally_sandbox, app):
    developer = requests.Session()
    tokens = tokens_for(rally_sandbox, app, session=developer)
    page = developer.get(f"{rally_sandbox.base_url}/login/oauth2/applications", timeout=30)
    revoke = revoke_form(page.text, app)

    other = signed_in(rally_sandbox, "pm@example.com")
    theirs = other.get(f"{rally_sandbox.base_url}/login/oauth2/applications", timeout=30)
    assert name_of(app) not in theirs.text
    csrf = forms_in(theirs.text)[-1].fields["csrfmiddlewaretoken"]
    answer = other.post(
        rally_sandbox.base_url + revoke.action,
        data={"csrfmiddlewaretoken": csrf},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 404
    assert current_user(rally_sandbox, tokens["access_token"]).status_code == 200


def test_denying_consent_redirects_with_access_denied(rally_sandbox, app):
    query = get_code(
        rally_sandbox.base_url,
        client_id=app["client_id"],
        redirect_uri=REDIRECT_URI,
        username=USER,
        password=rally_sandbox.users[USER],
        decision="Deny",
    )
    assert query["error"] == ["access_denied"]
    assert "code" not in query


def test_an_unregistered_redirect_uri_is_refused_without_redirecting(rally_sandbox, app):
    page = requests.get(
        authorization_url(
            rally_sandbox.base_url,
            client_id=app["client_id"],
            redirect_uri="http://attacker.invalid/callback",
            state="x",
        ),
        allow_redirects=False,
        timeout=30,
    )
    assert page.status_code == 400
    assert "redirect_uri" in page.text
    assert "Location" not in page.headers


def test_an_unknown_client_is_refused_without_redirecting(rally_sandbox):
    page = requests.get(
        authorization_url(
            rally_sandbox.base_url, client_id="nobody", redirect_uri=REDIRECT_URI, state="x"
        ),
        allow_redirects=False,
        timeout=30,
    )
    assert page.status_code == 400
    assert "Location" not in page.headers


def test_a_code_works_once_and_its_replay_ends_the_tokens_it_gave(rally_sandbox, app):
    code = code_for(rally_sandbox, app)
    options = {**app, "redirect_uri": REDIRECT_URI}
    first = exchange_code(rally_sandbox.base_url, code=code, **options)
    assert first.status_code == 200

    replay = exchange_code(rally_sandbox.base_url, code=code, **options)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert current_user(rally_sandbox, first.json()["access_token"]).status_code == 401


def test_a_code_exchanged_with_another_redirect_uri_is_invalid_grant(rally_sandbox, app):
    code = code_for(rally_sandbox, app)
    answer = exchange_code(
        rally_sandbox.base_url, code=code, redirect_uri="http://127.0.0.1:9/other", **app
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_a_wrong_client_secret_is_invalid_client(rally_sandbox, app):
    code = code_for(rally_sandbox, app)
    answer = exchange_code(
        rally_sandbox.base_url,
        code=code,
        client_id=app["client_id"],
        client_secret="wrong-secret-wrong-secret",
        redirect_uri=REDIRECT_URI,
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_client_credentials_may_come_as_http_basic(rally_sandbox, app):
    code = code_for(rally_sandbox, app)
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    answer = requests.post(
        f"{rally_sandbox.base_url}/login/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert current_user(rally_sandbox, answer.json()["access_token"]).status_code == 200


def test_an_unknown_grant_type_gets_an_error_shaped_like_rallys(rally_sandbox, app):
    sample = json.loads((SAMPLES / "oauth-token-error.json").read_text())
    answer = requests.post(
        f"{rally_sandbox.base_url}/login/oauth2/token",
        data={"grant_type": "password", **app},
        timeout=30,
    )
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == set(sample)
    assert body["error"] == "invalid_grant"
    assert body["error_description"].startswith("Invalid value for grant_type params")


def test_a_bad_response_type_is_sent_back_to_the_client(rally_sandbox, app):
    page = requests.get(
        f"{rally_sandbox.base_url}/login/oauth2/auth",
        params={
            "client_id": app["client_id"],
            "redirect_uri": REDIRECT_URI,
            "response_type": "token",
            "state": "st",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert page.status_code == 302
    query = parse_qs(urlsplit(page.headers["Location"]).query)
    assert query["error"] == ["unsupported_response_type"]
    assert query["state"] == ["st"]


def test_the_seed_registers_the_local_aharally_client(rally_sandbox):
    answer = rally_sandbox.admin("GET", "/sandbox-admin/oauth-clients")
    (local,) = [c for c in answer.json()["clients"] if c["client_id"] == "aharally-local"]
    assert local["redirect_uris"] == [
        "http://127.0.0.1:8000/integrations/rally/oauth/callback",
        "http://localhost:8000/integrations/rally/oauth/callback",
    ]
    tokens = authorize(
        rally_sandbox.base_url,
        client_id="aharally-local",
        client_secret="aharally-local-demo-secret",
        redirect_uri="http://localhost:8000/integrations/rally/oauth/callback",
        username=USER,
        password=rally_sandbox.users[USER],
    )
    assert current_user(rally_sandbox, tokens["access_token"]).status_code == 200


def test_registering_a_client_checks_its_fields(rally_sandbox):
    answer = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/oauth-clients",
        json={
            "client_id": "bad",
            "client_secret": "short",
            "name": "x",
            "redirect_uris": ["http://x/cb"],
        },
    )
    assert answer.status_code == 400
    assert "client_secret" in answer.json()["error"]
    bad_uri = rally_sandbox.admin(
        "POST",
        "/sandbox-admin/oauth-clients",
        json={
            "client_id": "bad",
            "client_secret": "long-enough-secret-123",
            "name": "x",
            "redirect_uris": ["not a url"],
        },
    )
    assert bad_uri.status_code == 400


def test_the_oauth_admin_endpoints_need_the_admin_key(rally_sandbox):
    for path in ("/sandbox-admin/oauth-clients", "/sandbox-admin/oauth/expire-access-tokens"):
        answer = requests.post(
            rally_sandbox.base_url + path,
            json={},
            headers={"X-Sandbox-Admin-Key": "wrong"},
            timeout=30,
        )
        assert answer.status_code == 403


@pytest.fixture(scope="module")
def short_lived():
    """A sandbox whose codes live 1 s and access tokens 2 s (set through the environment)."""
    env = {"RALLY_SANDBOX_CODE_SECONDS": "1", "RALLY_SANDBOX_ACCESS_TOKEN_SECONDS": "2"}
    with RallySandbox(env=env) as sandbox:
        yield sandbox


def test_lifetimes_come_from_the_environment_and_end_by_the_clock(short_lived):
    app = {"client_id": "aharally-local", "client_secret": "aharally-local-demo-secret"}
    redirect_uri = "http://127.0.0.1:8000/integrations/rally/oauth/callback"
    session = requests.Session()
    tokens = authorize(
        short_lived.base_url,
        redirect_uri=redirect_uri,
        username=USER,
        password=short_lived.users[USER],
        session=session,
        **app,
    )
    assert tokens["expires_in"] == 2
    query = get_code(
        short_lived.base_url,
        client_id=app["client_id"],
        redirect_uri=redirect_uri,
        username=USER,
        password=short_lived.users[USER],
        session=session,
    )

    time.sleep(2.2)  # past both lifetimes

    assert current_user(short_lived, tokens["access_token"]).status_code == 401
    late = exchange_code(
        short_lived.base_url, code=query["code"][0], redirect_uri=redirect_uri, **app
    )
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
