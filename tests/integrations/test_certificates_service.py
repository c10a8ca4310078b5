from __future__ import annotations

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from aharally.integrations.certificates import (
    CertificateError,
    TemplateOwnsCertificate,
    certificate_info,
    remove_client_certificate,
    set_client_certificate,
    validate_client_certificate,
)
from aharally.integrations.models import Integration, IntegrationLogEntry
from tests.factories import make_workspace
from tests.integrations.pki import cert_pem, key_pem, make_certificate, make_key, pair


@pytest.fixture
def integration(db):
    return Integration.objects.create(workspace=make_workspace(), name="Rally")


def _refused(integration, certificate, key, *, passphrase=None, field=None) -> str:
    with pytest.raises(CertificateError) as caught:
        set_client_certificate(
            integration=integration,
            certificate_pem=certificate,
            private_key_pem=key,
            passphrase=passphrase,
        )
    integration.refresh_from_db()
    assert integration.client_certificate_pem == ""
    assert integration.client_private_key_pem == ""
    assert integration.client_certificate_expires_at is None
    assert not IntegrationLogEntry.objects.exists()
    if field:
        assert caught.value.field == field
    return caught.value.message


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_a_matching_key_and_certificate_are_stored_with_the_key_encrypted(integration, kind):
    certificate, key = pair(kind, common_name="Platform client")
    info = set_client_certificate(
        integration=integration, certificate_pem=certificate, private_key_pem=key
    )
    integration.refresh_from_db()
    assert "CN=Platform client" in info.subject
    assert integration.client_certificate_pem.strip() == certificate.strip()
    assert integration.client_certificate_expires_at == info.not_valid_after
    assert "BEGIN PRIVATE KEY" in integration.client_private_key_pem.reveal()
    assert "Client certificate set" in IntegrationLogEntry.objects.get().message


def test_a_key_that_does_not_match_its_certificate_is_refused(integration):
    certificate, _ = pair()
    _, other_key = pair()
    message = _refused(integration, certificate, other_key, field="private_key")
    assert "does not belong to this certificate" in message


def test_an_expired_certificate_is_refused(integration):
    certificate, key = pair(starts_in_days=-30, days_valid=10)
    assert "expired" in _refused(integration, certificate, key, field="certificate")


def test_a_certificate_not_yet_valid_is_refused(integration):
    certificate, key = pair(starts_in_days=5)
    assert "not valid before" in _refused(integration, certificate, key)


@pytest.mark.parametrize(
    ("certificate", "key", "field"),
    [
        ("hello", "world", "certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n",
            "x",
            "certificate",
        ),
        ("", "", "certificate"),
    ],
)
def test_garbage_pem_is_refused_with_a_clear_message(integration, certificate, key, field):
    message = _refused(integration, certificate, key, field=field)
    assert "certificate" in message.lower()


def test_a_damaged_private_key_is_refused(integration):
    certificate, _ = pair()
    damaged = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    assert "could not be read" in _refused(integration, certificate, damaged, field="private_key")


def test_key_and_certificate_swapped_are_explained(integration):
    certificate, key = pair()
    assert "private key" in _refused(integration, key, certificate, field="certificate")


def test_an_encrypted_key_without_its_passphrase_is_refused(integration):
    key = make_key()
    certificate = cert_pem(make_certificate(key))
    encrypted = key_pem(key, passphrase="open sesame")
    message = _refused(integration, certificate, encrypted, field="passphrase")
    assert "encrypted" in message and "passphrase" in message


def test_an_encrypted_key_with_a_wrong_passphrase_is_refused(integration):
    key = make_key()
    certificate = cert_pem(make_certificate(key))
    encrypted = key_pem(key, passphrase="open sesame")
    assert "passphrase" in _refused(integration, certificate, encrypted, passphrase="nope")


def test_an_encrypted_key_with_its_passphrase_is_stored_decrypted_and_encrypted_at_rest(
    integration,
):
    key = make_key("rsa")
    certificate = cert_pem(make_certificate(key))
    encrypted = key_pem(key, passphrase="open sesame", traditional=True)
    set_client_certificate(
        integration=integration,
        certificate_pem=certificate,
        private_key_pem=encrypted,
        passphrase="open sesame",
    )
    integration.refresh_from_db()
    stored = integration.client_private_key_pem.reveal()
    assert "ENCRYPTED" not in stored and "BEGIN PRIVATE KEY" in stored


def test_an_unsupported_key_kind_is_refused(integration):
    key = make_key("ed25519")
    certificate = cert_pem(make_certificate(key))
    assert "RSA or EC" in _refused(integration, certificate, key_pem(key))


def test_a_server_only_certificate_is_refused(integration):
    certificate, key = pair(usage=ExtendedKeyUsageOID.SERVER_AUTH)
    assert "client authentication" in _refused(integration, certificate, key)


def test_uploaded_bytes_with_windows_line_ends_are_accepted():
    certificate, key = pair()
    validated = validate_client_certificate(
        certificate_pem=certificate.replace("\n", "\r\n").encode(),
        private_key_pem=key.replace("\n", "\r\n").encode(),
    )
    assert validated.info.key_type == "EC secp256r1"


def test_an_integration_built_from_a_template_uses_the_template_certificate(integration):
    certificate, key = pair(common_name="Shared client")
    integration.is_template = True
    integration.save()
    set_client_certificate(
        integration=integration, certificate_pem=certificate, private_key_pem=key
    )
    derived = Integration.objects.create(
        workspace=make_workspace(), name="Derived", template=integration
    )
    assert "CN=Shared client" in certificate_info(derived).subject
    with pytest.raises(TemplateOwnsCertificate):
        set_client_certificate(
            integration=derived, certificate_pem=certificate, private_key_pem=key
        )
    derived.refresh_from_db()
    assert derived.client_private_key_pem == ""


def test_removing_the_certificate_forgets_the_key(integration):
    certificate, key = pair()
    set_client_certificate(
        integration=integration, certificate_pem=certificate, private_key_pem=key
    )
    remove_client_certificate(integration=integration)
    integration.refresh_from_db()
    assert integration.client_private_key_pem == ""
    assert certificate_info(integration) is None
