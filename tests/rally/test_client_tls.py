"""mTLS: a sandbox served over HTTPS that demands a client certificate signed by its CA."""

from __future__ import annotations

import os
import stat

import pytest

from aharally.rally import ApiKey, ClientCertificate, RallyClient, RallyConfigError
from tests.rally.conftest import RequestLog
from tests.sandbox import mtls_sandbox

pytestmark = pytest.mark.sandbox_only


@pytest.fixture(scope="module")
def mtls(tmp_path_factory):
    with mtls_sandbox(tmp_path_factory.mktemp("tls")) as (sandbox, certs):
        yield sandbox, certs


def connect(sandbox, **options) -> RallyClient:
    return RallyClient(sandbox.base_url, credential=ApiKey(sandbox.api_key), **options)


def test_without_a_client_certificate_the_client_gets_a_clear_config_error(mtls):
    sandbox, certs = mtls
    with connect(sandbox, ca_bundle=str(certs.ca_cert)) as client:
        log = RequestLog(client)
        with pytest.raises(RallyConfigError, match="client certificate") as caught:
            client.subscription()
    assert caught.value.kind == "config"
    assert len(log) == 1  # a refused handshake is not retried


def test_with_the_client_certificate_files_the_client_succeeds(mtls):
    sandbox, certs = mtls
    certificate = ClientCertificate(str(certs.client_cert), str(certs.client_key))
    with connect(sandbox, ca_bundle=str(certs.ca_cert), client_certificate=certificate) as client:
        assert client.subscription().name
        assert [w.name for w in client.workspaces()] == ["Engineering", "Operations"]


def test_with_the_client_certificate_as_pem_text_the_client_succeeds_and_cleans_up(mtls):
    sandbox, certs = mtls
    certificate = ClientCertificate.from_pem(
        certs.client_cert.read_text(), certs.client_key.read_text()
    )
    assert stat.S_IMODE(os.stat(certificate.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(certificate.key_file)).st_mode) == 0o700
    with connect(sandbox, ca_bundle=str(certs.ca_cert), client_certificate=certificate) as client:
        assert client.subscription().name
    assert not os.path.exists(certificate.key_file)


def test_a_server_certificate_from_an_unknown_ca_is_a_config_error(mtls, monkeypatch):
    sandbox, certs = mtls
    # Only the system trust store: the sandbox's private CA is not in it.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    certificate = ClientCertificate(str(certs.client_cert), str(certs.client_key))
    with (
        connect(sandbox, client_certificate=certificate) as client,
        pytest.raises(RallyConfigError, match="could not be verified"),
    ):
        client.subscription()


def test_pem_text_that_is_not_a_certificate_is_refused_before_anything_is_written():
    with pytest.raises(ValueError, match="certificate"):
        ClientCertificate.from_pem("not a cert", "-----BEGIN PRIVATE KEY-----")
