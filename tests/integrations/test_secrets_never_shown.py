"""Tokens, API keys, private keys and passphrases never appear in a page, a log line or an
error message — searched for in every page of the integration settings, the report and the
log, and in everything Python's logging captured meanwhile."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from aharally.integrations.certificates import set_client_certificate
from aharally.integrations.log import log_event, record_failure
from aharally.integrations.models import AuthMethod, Integration, IntegrationState
from aharally.integrations.templates_service import attach_template, use_as_template
from tests.factories import make_workspace
from tests.integrations.builders import configured_integration
from tests.integrations.pki import cert_pem, key_pem, make_certificate, make_key

ACCESS_TOKEN = "acc3ss-t0ken-7c1e5a9d2b8f4e6a"
REFRESH_TOKEN = "r3fresh-t0ken-4b2d8e1f9a7c3e5b"
API_KEY = "_Kq7Wn3Xr9Lp2Zt8Vb4Mc6Hd1Fj5Gs0Ay"
PASSPHRASE = "pa55phrase-nobody-sees"


def _key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if not line.startswith("-----") and len(line) > 16]


@pytest.fixture
def world(cast, rally_sandbox):
    key = make_key()
    private_key = key_pem(key)
    certificate = cert_pem(make_certificate(key, common_name="Secret-free subject"))
    template = configured_integration(
        cast.workspace,
        "Shared",
        rally_url=rally_sandbox.base_url,
        auth_method=AuthMethod.OAUTH,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        api_key=API_KEY,
        rally_workspace_oid=None,
        rally_project_oid=None,
    )
    # Set while the URL is https (none is taken for http://), then pointed at the sandbox.
    Integration.objects.filter(pk=template.pk).update(rally_url="https://rally.example.com")
    template.rally_url = "https://rally.example.com"
    set_client_certificate(
        integration=template, certificate_pem=certificate, private_key_pem=private_key
    )
    Integration.objects.filter(pk=template.pk).update(rally_url=rally_sandbox.base_url)
    template.refresh_from_db()
    use_as_template(integration=template)
    derived = attach_template(
        integration=Integration.objects.create(
            workspace=make_workspace("Company", "COMP", owner=cast.owner),
            name="Company Rally",
            state=IntegrationState.ENABLED,
        ),
        template=Integration.objects.get(pk=template.pk),
        by=cast.owner,
    )
    # Careless callers: the log service must mask what they pass.
    log_event(template, "warning", f"Token {ACCESS_TOKEN} refreshed with {REFRESH_TOKEN}")
    record_failure(derived, f"Request with ZSESSIONID: {API_KEY} failed", private_key)
    secrets = [ACCESS_TOKEN, REFRESH_TOKEN, API_KEY, PASSPHRASE, *_key_lines(private_key)]
    return {
        "template": template,
        "derived": derived,
        "secrets": secrets,
        "private_key": private_key,
        "certificate": certificate,
    }


def _assert_clean(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret shows in {where}"


def test_no_page_log_line_or_message_shows_a_secret(client, cast, world, caplog):
    template, derived, secrets = world["template"], world["derived"], world["secrets"]
    client.force_login(cast.owner)
    pages: list[tuple[str, str]] = []

    def visit(url: str, **params) -> None:
        response = client.get(url, params)
        assert response.status_code == 200, url
        pages.append((url, response.content.decode()))

    with caplog.at_level(logging.DEBUG):
        for prefix in ("PLAT", "COMP"):
            visit(reverse("integrations:index", kwargs={"prefix": prefix}))
            visit(reverse("integrations:manage", kwargs={"prefix": prefix}))
        visit(reverse("integrations:manage", kwargs={"prefix": "PLAT"}), state="failing")
        for integration in (template, derived):
            kwargs = {"prefix": integration.workspace.prefix, "integration_id": integration.pk}
            for name in ("settings", "certificate", "delete", "log"):
                visit(reverse(f"integrations:{name}", kwargs=kwargs))
            for level in ("info", "warning", "error"):
                visit(reverse("integrations:log", kwargs=kwargs), level=level)
            # Check connection: the sandbox refuses the made-up token; the message is shown.
            response = client.post(reverse("integrations:check", kwargs=kwargs), follow=True)
            pages.append(("check", response.content.decode()))

        kwargs = {"prefix": "PLAT", "integration_id": template.pk}
        certificate_url = reverse("integrations:certificate", kwargs=kwargs)
        # Errors re-show the form: neither the pasted key nor the passphrase comes back.
        other_certificate = cert_pem(make_certificate(make_key()))
        response = client.post(
            certificate_url,
            {"certificate": other_certificate, "private_key": world["private_key"]},
        )
        assert response.status_code == 400
        pages.append(("certificate error", response.content.decode()))
        response = client.post(
            certificate_url,
            {
                "certificate": world["certificate"],
                "private_key": world["private_key"],
                "passphrase": PASSPHRASE,
            },
        )
        assert response.status_code == 400
        pages.append(("passphrase error", response.content.decode()))
        visit(reverse("integrations:settings", kwargs=kwargs))

    assert any("Rally refused" in html for url, html in pages if url == "check")
    for url, html in pages:
        _assert_clean(html, secrets, url)
    _assert_clean(caplog.text, secrets, "the captured logs")
    for integration in Integration.objects.all():
        _assert_clean(integration.last_error, secrets, "last_error")
        for entry in integration.log.all():
            _assert_clean(entry.message + entry.hint, secrets, "the integration log")
    # The secrets are still there to be used: nothing above destroyed them.
    template.refresh_from_db()
    assert template.access_token.reveal() in (ACCESS_TOKEN, "")
    assert template.api_key.reveal() == API_KEY
