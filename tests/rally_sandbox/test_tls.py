"""HTTPS with generated certificates, and mutual TLS demanding a client certificate."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from rally_sandbox.tls import ensure_certificates
from tests.sandbox import ROOT, RallySandbox

pytestmark = pytest.mark.sandbox_only

TIMEOUT = 15


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return ensure_certificates(tmp_path_factory.mktemp("tls"))


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_server_certificate_names_the_loopback_host_and_is_signed_by_the_ca(certs):
    ca, server = load(certs.ca_cert), load(certs.server_cert)
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_client_certificate_is_for_client_authentication_and_signed_by_the_ca(certs):
    client = load(certs.client_cert)
    client.verify_directly_issued_by(load(certs.ca_cert))
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_keys_are_readable_by_the_owner_only(certs):
    for key in (certs.ca_key, certs.server_key, certs.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_generating_again_keeps_valid_files(certs):
    before = {path: path.read_bytes() for path in (certs.ca_cert, certs.server_cert)}
    ensure_certificates(certs.directory)
    assert {path: path.read_bytes() for path in before} == before


def test_a_missing_leaf_is_made_again_under_the_same_ca(tmp_path):
    first = ensure_certificates(tmp_path)
    ca = first.ca_cert.read_bytes()
    first.client_key.unlink()

    again = ensure_certificates(tmp_path)

    assert again.ca_cert.read_bytes() == ca
    load(again.client_cert).verify_directly_issued_by(load(again.ca_cert))


def test_the_certs_command_prints_where_the_files_are(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rally_sandbox", "certs", "--tls-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(tmp_path / "ca.pem") in result.stdout
    assert str(tmp_path / "client-key.pem") in result.stdout
    assert (tmp_path / "server.pem").exists()


def test_a_client_certificate_without_tls_is_refused_at_startup(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rally_sandbox", "serve", "--require-client-cert"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"RALLY_SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "PATH": ""},
    )
    assert result.returncode != 0
    assert "--require-client-cert needs --tls" in result.stderr


def test_https_answers_with_a_certificate_the_ca_bundle_trusts(certs):
    serve_args = ["--tls", "--tls-dir", str(certs.directory)]
    with RallySandbox(serve_args=serve_args, scheme="https", verify=str(certs.ca_cert)) as sandbox:
        # `verify` explicitly: REQUESTS_CA_BUNDLE in the environment beats a session's.
        ca = str(certs.ca_cert)
        answer = sandbox.session().get(
            f"{sandbox.wsapi_url}/subscription", verify=ca, timeout=TIMEOUT
        )
        by_name = sandbox.session().get(
            f"https://localhost:{sandbox.port}/slm/webservice/v2.0/subscription",
            verify=ca,
            timeout=TIMEOUT,
        )
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{sandbox.wsapi_url}/subscription", timeout=TIMEOUT, verify=True)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://{sandbox.server}/slm/webservice/v2.0/subscription", timeout=5)

    assert answer.status_code == 200
    assert answer.json()["Subscription"]["_ref"].startswith(f"https://{sandbox.server}/")
    assert by_name.status_code == 200


def test_with_a_client_certificate_demanded_only_a_ca_signed_one_gets_in(certs, tmp_path):
    stranger = ensure_certificates(tmp_path / "another-ca")
    serve_args = ["--tls", "--require-client-cert", "--tls-dir", str(certs.directory)]
    with RallySandbox(serve_args=serve_args, scheme="https", verify=str(certs.ca_cert)) as sandbox:
        url = f"{sandbox.wsapi_url}/subscription"
        headers = {"ZSESSIONID": sandbox.api_key}
        with pytest.raises(requests.exceptions.ConnectionError):  # SSLError is one too
            requests.get(url, headers=headers, verify=str(certs.ca_cert), timeout=TIMEOUT)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(
                url,
                headers=headers,
                verify=str(certs.ca_cert),
                cert=(str(stranger.client_cert), str(stranger.client_key)),
                timeout=TIMEOUT,
            )
        answer = requests.get(
            url,
            headers=headers,
            verify=str(certs.ca_cert),
            cert=(str(certs.client_cert), str(certs.client_key)),
            timeout=TIMEOUT,
        )

    assert answer.status_code == 200
    assert answer.json()["Subscription"]["Name"]
