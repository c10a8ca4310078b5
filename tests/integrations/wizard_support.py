"""Shared by the wizard's tests: an OAuth client at the sandbox, Rally's consent, shortcuts.

Its fixtures (`wizard_oauth_client`, `wizard_settings`, `owner_client`) are in tests/conftest.py.
"""

from __future__ import annotations

import re
import textwrap
from urllib.parse import parse_qs, urlsplit

import requests
from django.urls import reverse

from aharally.integrations.models import AuthMethod, Integration
from aharally.integrations.wizard import services

TEST_CLIENT_ID = "aharally-wizard-tests"
TEST_CLIENT_SECRET = "wizard-tests-secret-0123456789"
TEST_SITE = "http://testserver"
PM_LOGIN = ("pm@example.com", "pm-demo-password")


def sandbox_admin_key(sandbox) -> str:
    # The sandbox's admin-API key (its setting RALLY_SANDBOX_ADMIN_KEY), not a Rally API key.
    return getattr(sandbox, "sandbox_admin_key", None) or sandbox.env().get(
        "RALLY_SANDBOX_ADMIN_KEY", "sandbox-admin-dev-key"
    )


def register_oauth_client(
    sandbox, *, client_id: str, redirect_uris: list[str], **request_kwargs
) -> None:
    response = requests.post(
        sandbox.base_url + "/sandbox-admin/oauth-clients",
        json={
            "client_id": client_id,
            "client_secret": TEST_CLIENT_SECRET,
            "name": "aharally (tests)",
            "redirect_uris": redirect_uris,
        },
        headers={"X-Sandbox-Admin-Key": sandbox_admin_key(sandbox)},
        timeout=10,
        **request_kwargs,
    )
    assert response.status_code == 201, response.text


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the sandbox page"
    return match.group(1)


def rally_consent(
    authorize_url: str, *, decision: str = "allow", login=PM_LOGIN, verify=True, cert=None
) -> str:
    """Play the person at Rally: sign in, then allow (or deny). Returns the callback URL."""
    browser = requests.Session()
    browser.trust_env = False  # else REQUESTS_CA_BUNDLE would beat `verify` (a requests quirk)
    browser.verify = verify
    browser.cert = cert
    page = browser.get(authorize_url, timeout=10)  # → the sign-in page
    assert "Sign in to Rally" in page.text
    consent = browser.post(
        page.url,
        data={
            "csrfmiddlewaretoken": _csrf(page.text),
            "username": login[0],
            "password": login[1],
            "next": parse_qs(urlsplit(page.url).query)["next"][0],
        },
        headers={"Referer": page.url},
        timeout=10,
    )
    assert "Allow access" in consent.text, consent.text[:500]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', consent.text))
    fields["decision"] = decision
    fields["csrfmiddlewaretoken"] = _csrf(consent.text)
    answer = browser.post(
        consent.url.split("?")[0],
        data={k: v.replace("&amp;", "&") for k, v in fields.items()},
        headers={"Referer": consent.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    return answer.headers["Location"]


def step_url(integration: Integration, step: str, **kwargs) -> str:
    return reverse(
        f"integrations:wizard_{step}",
        kwargs={
            "prefix": integration.workspace.prefix,
            "integration_id": integration.pk,
            **kwargs,
        },
    )


def draft(workspace, owner, *, name: str = "Rally", rally_url: str | None = None) -> Integration:
    integration = services.create_draft(workspace=workspace, name=name, template=None, user=owner)
    if rally_url:
        services.set_account(integration=integration, rally_url=rally_url)
    return integration


def authorized(workspace, owner, sandbox, *, api_key: str | None = None) -> Integration:
    """A draft authorized with the demo API key (the OAuth flow has its own tests)."""
    integration = draft(workspace, owner, rally_url=sandbox.base_url)
    services.store_authorization(
        integration=integration,
        authorization=services.Authorization(
            auth_method=AuthMethod.API_KEY,
            rally_user_name="Pat Manager",
            api_key=api_key or sandbox.api_key,
        ),
        user=owner,
    )
    return integration


def engineering_oid(sandbox) -> int:
    session = sandbox.session()
    sub = session.get(sandbox.wsapi_url + "/subscription", params={"fetch": "Workspaces"}).json()
    ref = sub["Subscription"]["Workspaces"]["_ref"]
    items = session.get(ref, params={"fetch": "Name,ObjectID"}, timeout=10).json()
    for item in items["QueryResult"]["Results"]:
        if item["Name"] == "Engineering":
            return item["ObjectID"]
    raise AssertionError("no Engineering workspace in the sandbox")


def project_oid(sandbox, name: str) -> int:
    session = sandbox.session()
    answer = session.get(
        sandbox.wsapi_url + "/project",
        params={
            "query": f'(Name = "{name}")',
            "fetch": "ObjectID",
            "workspace": f"/workspace/{engineering_oid(sandbox)}",
        },
        timeout=10,
    ).json()
    results = answer["QueryResult"]["Results"]
    assert results, f"no project {name!r}"
    return results[0]["ObjectID"]


def scoped(workspace, owner, sandbox) -> Integration:
    """Authorized, with the Engineering workspace and the Platform project chosen."""
    integration = authorized(workspace, owner, sandbox)
    services.choose_workspace(
        integration=integration, oid=engineering_oid(sandbox), name="Engineering"
    )
    services.choose_project(
        integration=integration,
        oid=project_oid(sandbox, "Platform"),
        name="Platform",
        exclude_child_updates=False,
    )
    return integration


def reach(integration: Integration, step: str) -> Integration:
    services.reach(integration, step)
    return integration


def add_user_without_workspaces(sandbox, *, key: str) -> None:
    """A Rally user in a subscription that has no workspace, with an API key."""
    code = textwrap.dedent(
        f"""
        from rally_sandbox.accounts.models import Subscription, User
        from rally_sandbox.accounts.services import create_api_key
        sub, _ = Subscription.objects.get_or_create(
            subscription_id=4040, defaults={{"name": "Empty"}}
        )
        user, created = User.objects.get_or_create(
            username="lonely@example.com",
            defaults={{
                "subscription": sub, "email": "lonely@example.com", "display_name": "Lonely"
            }},
        )
        if created:
            create_api_key(user=user, name="Test key", key={key!r})
        """
    )
    result = sandbox.command("manage", "shell", "-c", code, check=False)
    assert result.returncode == 0, result.stderr


class RallyRequestCounter:
    """Counts the API requests the sandbox served (its admin statistics)."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.headers = {"X-Sandbox-Admin-Key": sandbox_admin_key(sandbox)}

    def reset(self) -> None:
        url = self.sandbox.base_url + "/sandbox-admin/stats/reset"
        assert requests.post(url, headers=self.headers, timeout=10).status_code == 200

    @property
    def count(self) -> int:
        url = self.sandbox.base_url + "/sandbox-admin/stats"
        return requests.get(url, headers=self.headers, timeout=10).json()["requests"]
