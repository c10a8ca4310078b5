"""The wizard against a Rally that demands client certificates (mTLS)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from aharally.integrations.certificates import set_client_certificate
from aharally.integrations.models import AuthMethod
from tests.integrations.wizard_support import (
    TEST_CLIENT_ID,
    TEST_SITE,
    draft,
    rally_consent,
    register_oauth_client,
    step_url,
)
from tests.sandbox import mtls_sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def mtls(tmp_path_factory):
    with mtls_sandbox(tmp_path_factory.mktemp("tls")) as (sandbox, certs):
        register_oauth_client(
            sandbox,
            client_id=TEST_CLIENT_ID,
            redirect_uris=[TEST_SITE + "/integrations/rally/oauth/callback"],
            verify=str(certs.ca_cert),
            cert=(str(certs.client_cert), str(certs.client_key)),
        )
        yield sandbox, certs


@pytest.fixture
def trusted(mtls, monkeypatch, settings, wizard_settings):
    sandbox, certs = mtls
    # How an operator makes a private CA trusted: the RALLY_CA_BUNDLE setting. The
    # environment's REQUESTS_CA_BUNDLE (the system store here) must not decide instead.
    settings.RALLY_CA_BUNDLE = str(certs.ca_cert)
    settings.RALLY_OAUTH_URL = sandbox.base_url  # the installation's client is this Rally's
    return sandbox, certs


def test_the_account_step_says_when_rally_asks_for_a_client_certificate(
    owner_client, cast, trusted
):
    sandbox, _ = trusted
    integration = draft(cast.workspace, cast.owner)
    response = owner_client.post(step_url(integration, "account"), {"rally_url": sandbox.base_url})
    assert response["Location"] == step_url(integration, "authorize")
    page = owner_client.get(response["Location"]).content.decode()
    assert "Rally asks for a client certificate" in page
    assert "More options → Set client certificate" in page


def test_oauth_works_through_mtls_with_the_integrations_client_certificate(
    owner_client, cast, trusted
):
    sandbox, certs = trusted
    integration = draft(cast.workspace, cast.owner, rally_url=sandbox.base_url)
    set_client_certificate(
        integration=integration,
        certificate_pem=certs.client_cert.read_text(),
        private_key_pem=certs.client_key.read_text(),
    )
    start = owner_client.post(step_url(integration, "oauth_start"))["Location"]
    callback = urlsplit(
        rally_consent(
            start, verify=str(certs.ca_cert), cert=(str(certs.client_cert), str(certs.client_key))
        )
    )
    response = owner_client.get(callback.path + "?" + callback.query)
    assert response["Location"] == step_url(integration, "workspace")
    integration.refresh_from_db()
    assert integration.auth_method == AuthMethod.OAUTH and integration.access_token
    page = owner_client.get(step_url(integration, "workspace")).content.decode()
    assert "Engineering" in page
    assert certs.client_key.read_text().splitlines()[1] not in page


def test_without_a_client_certificate_the_authorization_fails_clearly_and_saves_nothing(
    owner_client, cast, trusted
):
    sandbox, certs = trusted
    integration = draft(cast.workspace, cast.owner, rally_url=sandbox.base_url)
    start = owner_client.post(step_url(integration, "oauth_start"))["Location"]
    callback = urlsplit(
        rally_consent(
            start, verify=str(certs.ca_cert), cert=(str(certs.client_cert), str(certs.client_key))
        )
    )
    response = owner_client.get(callback.path + "?" + callback.query)
    page = owner_client.get(response["Location"]).content.decode()
    assert "Could not open a secure connection" in page
    assert "client certificate" in page
    integration.refresh_from_db()
    assert not integration.access_token
