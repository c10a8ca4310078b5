"""Acceptance 3: against a Rally sandbox that demands client certificates (mTLS)."""

from __future__ import annotations

import logging

import pytest
import requests
from django.urls import reverse

from aharally.integrations.models import AuthMethod, Integration, IntegrationState
from aharally.integrations.templates_service import attach_template, use_as_template
from tests.factories import make_workspace
from tests.integrations.builders import configured_integration
from tests.sandbox import mtls_sandbox


@pytest.fixture(scope="module")
def mtls(tmp_path_factory):
    with mtls_sandbox(tmp_path_factory.mktemp("tls")) as (sandbox, certs):
        yield sandbox, certs


@pytest.fixture
def integration(mtls, cast, monkeypatch, settings):
    sandbox, certs = mtls
    # How an operator makes a private CA trusted: the RALLY_CA_BUNDLE setting. The
    # environment's REQUESTS_CA_BUNDLE (the system store here) must not decide instead.
    settings.RALLY_CA_BUNDLE = str(certs.ca_cert)
    found = requests.get(
        f"{sandbox.wsapi_url}/project",
        params={"query": '(Name = "Platform")', "fetch": "ObjectID,Name"},
        headers={"ZSESSIONID": sandbox.api_key},
        verify=str(certs.ca_cert),
        cert=(str(certs.client_cert), str(certs.client_key)),
        timeout=10,
    ).json()["QueryResult"]["Results"][0]
    return configured_integration(
        cast.workspace,
        rally_url=sandbox.base_url,
        auth_method=AuthMethod.API_KEY,
        api_key=sandbox.api_key,
        access_token="",
        refresh_token="",
        rally_workspace_oid=None,
        rally_project_oid=found["ObjectID"],
        rally_project_name=found["Name"],
    )


def _url(name, integration):
    return reverse(
        f"integrations:{name}",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


def _pems(certs) -> dict[str, str]:
    return {
        "certificate": certs.client_cert.read_text(),
        "private_key": certs.client_key.read_text(),
    }


def test_without_the_certificate_the_check_is_refused_with_a_clear_message_then_works_with_it(
    client, cast, mtls, integration, caplog
):
    sandbox, certs = mtls
    client.force_login(cast.owner)
    with caplog.at_level(logging.INFO):
        response = client.post(_url("check", integration), follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "client certificate" in html
    assert "Traceback" not in html
    integration.refresh_from_db()
    assert integration.last_error_at is not None
    error = integration.log.get(level="error")
    assert "client certificate" in error.message and "Set client certificate" in error.hint

    response = client.post(_url("certificate", integration), _pems(certs))
    assert response.status_code == 302

    response = client.post(_url("check", integration), follow=True)
    html = response.content.decode()
    assert "Connected to Rally as" in html
    assert "the project “Platform” is reachable" in html
    integration.refresh_from_db()
    assert integration.last_success_at > integration.last_error_at
    assert sandbox.api_key not in caplog.text
    assert certs.client_key.read_text().splitlines()[1] not in caplog.text


def test_a_certificate_set_on_the_template_serves_every_integration_built_on_it(
    client, cast, mtls, integration
):
    _, certs = mtls
    use_as_template(integration=integration)
    client.force_login(cast.owner)
    client.post(_url("certificate", integration), _pems(certs))
    derived = attach_template(
        integration=Integration.objects.create(
            workspace=make_workspace("Company", "COMP", owner=cast.owner),
            name="Company Rally",
            state=IntegrationState.ENABLED,
        ),
        template=Integration.objects.get(pk=integration.pk),
        by=cast.owner,
    )
    html = client.post(_url("check", derived), follow=True).content.decode()
    assert "Connected to Rally as" in html
    derived.refresh_from_db()
    assert derived.client_private_key_pem == ""  # nothing copied: read from the template
