"""Client certificates (mTLS): validating a pasted key and certificate, and storing them.

The private key is kept only encrypted (`client_private_key_pem`) and never shown again;
pages show the certificate's subject, issuer and expiry instead. On an integration built
from a template the certificate comes from the template (`Integration.source`), so it is set
once, on the template, for all of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.db import transaction
from django.utils import timezone

from aharally.integrations.log import audit_integration, log_event
from aharally.integrations.models import Integration, LogLevel

MAX_PEM_LENGTH = 64 * 1024
MIN_RSA_BITS = 2048
# Pages warn this long before a client certificate expires: calls to Rally fail after that.
EXPIRY_WARNING = dt.timedelta(days=30)


class CertificateError(ValueError):
    """The key or certificate can't be used; `field` says which input to fix."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CertificateInfo:
    """What pages may show about a client certificate (nothing secret)."""

    subject: str
    issuer: str
    not_valid_before: dt.datetime
    not_valid_after: dt.datetime
    serial_number: str
    sha256_fingerprint: str
    key_type: str

    @property
    def expired(self) -> bool:
        return self.not_valid_after <= timezone.now()

    @property
    def expires_soon(self) -> bool:
        return not self.expired and self.not_valid_after <= timezone.now() + EXPIRY_WARNING


@dataclass(frozen=True)
class ValidatedCertificate:
    certificate_pem: str  # the leaf first, then any intermediates, as given
    private_key_pem: str  # unencrypted PKCS#8: the TLS stack reads it from a private temp file
    info: CertificateInfo


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise CertificateError("The file is not readable text (PEM).") from None
    return (value or "").replace("\r\n", "\n").strip()


def _key_type(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size} bits"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__


def _load_certificates(pem: str) -> list[x509.Certificate]:
    if not pem:
        raise CertificateError("Paste or upload the certificate (PEM).", field="certificate")
    if "PRIVATE KEY-----" in pem:
        raise CertificateError(
            "This field holds a private key: put the certificate here and the key in the "
            "private key field.",
            field="certificate",
        )
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise CertificateError(
            "This is not a PEM certificate: it should start with “-----BEGIN CERTIFICATE-----”.",
            field="certificate",
        )
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise CertificateError(
            "The certificate could not be read: the PEM text is damaged or incomplete.",
            field="certificate",
        ) from None
    return certificates


def _load_private_key(pem: str, passphrase: str | None):
    if not pem:
        raise CertificateError("Paste or upload the private key (PEM).", field="private_key")
    if "-----BEGIN CERTIFICATE-----" in pem and "PRIVATE KEY-----" not in pem:
        raise CertificateError(
            "This field holds a certificate: put the private key here.", field="private_key"
        )
    if "PRIVATE KEY-----" not in pem:
        raise CertificateError(
            "This is not a PEM private key: it should start with “-----BEGIN PRIVATE KEY-----”"
            " (or RSA/EC PRIVATE KEY).",
            field="private_key",
        )
    password = passphrase.encode() if passphrase else None
    try:
        return serialization.load_pem_private_key(pem.encode(), password=password)
    except TypeError:
        # cryptography says TypeError both for "needs a password" and "got one it didn't need".
        if password is None:
            raise CertificateError(
                "The private key is encrypted: enter its passphrase.", field="passphrase"
            ) from None
        raise CertificateError(
            "The private key is not encrypted: leave the passphrase empty.", field="passphrase"
        ) from None
    except ValueError:
        if password is not None and "ENCRYPTED" in pem:
            raise CertificateError(
                "The passphrase does not open this private key.", field="passphrase"
            ) from None
        raise CertificateError(
            "The private key could not be read: the PEM text is damaged, incomplete or of "
            "an unsupported kind.",
            field="private_key",
        ) from None


def describe_certificate(certificate_pem: str) -> CertificateInfo:
    """Subject, issuer, validity and fingerprint of the first certificate of a PEM text."""
    leaf = _load_certificates(_text(certificate_pem))[0]
    return _info(leaf)


def _info(leaf: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string() or "(empty subject)",
        issuer=leaf.issuer.rfc4514_string() or "(empty issuer)",
        not_valid_before=leaf.not_valid_before_utc,
        not_valid_after=leaf.not_valid_after_utc,
        serial_number=format(leaf.serial_number, "x"),
        sha256_fingerprint=leaf.fingerprint(hashes.SHA256()).hex(":").upper(),
        key_type=_key_type(leaf.public_key()),
    )


def validate_client_certificate(
    *,
    certificate_pem: str | bytes,
    private_key_pem: str | bytes,
    passphrase: str | None = None,
    now: dt.datetime | None = None,
) -> ValidatedCertificate:
    """Check that key and certificate parse, belong together, are RSA/EC and are in date."""
    certificate_text = _text(certificate_pem)
    key_text = _text(private_key_pem)
    if len(certificate_text) > MAX_PEM_LENGTH:
        raise CertificateError("The certificate is too large (over 64 KB).", field="certificate")
    if len(key_text) > MAX_PEM_LENGTH:
        raise CertificateError("The private key is too large (over 64 KB).", field="private_key")
    certificates = _load_certificates(certificate_text)
    key = _load_private_key(key_text, passphrase)
    leaf = certificates[0]

    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(
            "Use an RSA or EC (elliptic curve) private key; this kind of key is not supported.",
            field="private_key",
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise CertificateError(
            f"The RSA key has {key.key_size} bits; use at least {MIN_RSA_BITS}.",
            field="private_key",
        )
    public_der = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public_der) != leaf.public_key().public_bytes(
        encoding, public_der
    ):
        raise CertificateError(
            "The private key does not belong to this certificate (their public keys differ). "
            "Use the key the certificate was issued for.",
            field="private_key",
        )

    moment = now or timezone.now()
    if leaf.not_valid_after_utc <= moment:
        raise CertificateError(
            f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}. Ask for a new one.",
            field="certificate",
        )
    if leaf.not_valid_before_utc > moment:
        raise CertificateError(
            f"The certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            field="certificate",
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise CertificateError(
            "This certificate is not meant for client authentication (its extended key "
            "usage lacks “TLS Web Client Authentication”).",
            field="certificate",
        )

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)
    return ValidatedCertificate(
        certificate_pem=chain_pem, private_key_pem=key_pem, info=_info(leaf)
    )


# A client certificate is presented in the TLS handshake, and plain http has none.
PLAIN_HTTP = (
    "This integration's Rally URL is http://, which has no TLS: no client certificate can be "
    "presented over it. Change the Rally URL to https:// first."
)


class TemplateOwnsCertificate(CertificateError):
    """The integration takes its certificate from its template."""


def set_client_certificate(
    *,
    integration: Integration,
    certificate_pem: str | bytes,
    private_key_pem: str | bytes,
    passphrase: str | None = None,
    by=None,
) -> CertificateInfo:
    """Validate and store a client certificate; nothing is saved when anything is wrong."""
    if integration.template_id:
        raise TemplateOwnsCertificate(
            f"This integration takes its client certificate from the template "
            f"“{integration.template.name}”: set it there, once for all its integrations."
        )
    if integration.over_plain_http:
        raise CertificateError(PLAIN_HTTP)
    validated = validate_client_certificate(
        certificate_pem=certificate_pem, private_key_pem=private_key_pem, passphrase=passphrase
    )
    with transaction.atomic():
        integration.client_certificate_pem = validated.certificate_pem
        integration.client_private_key_pem = validated.private_key_pem
        integration.client_certificate_expires_at = validated.info.not_valid_after
        integration.save(
            update_fields=[
                "client_certificate_pem",
                "client_private_key_pem",
                "client_certificate_expires_at",
            ]
        )
        who = f" by {by.email}" if by is not None and getattr(by, "email", "") else ""
        log_event(
            integration,
            LogLevel.INFO,
            f"Client certificate set{who}: {validated.info.subject}, issued by "
            f"{validated.info.issuer}, expires {validated.info.not_valid_after:%Y-%m-%d}.",
            "Every call to Rally now presents this certificate. Replace it before it expires.",
        )
        audit_integration(
            integration, by=by, what=f"Client certificate set: {validated.info.subject}"
        )
    return validated.info


def remove_client_certificate(*, integration: Integration, by=None) -> None:
    """Forget the certificate and its key; calls to Rally go without a client certificate."""
    if integration.template_id:
        raise TemplateOwnsCertificate(
            f"This integration takes its client certificate from the template "
            f"“{integration.template.name}”: remove it there."
        )
    with transaction.atomic():
        integration.client_certificate_pem = ""
        integration.client_private_key_pem = ""
        integration.client_certificate_expires_at = None
        integration.save(
            update_fields=[
                "client_certificate_pem",
                "client_private_key_pem",
                "client_certificate_expires_at",
            ]
        )
        who = f" by {by.email}" if by is not None and getattr(by, "email", "") else ""
        log_event(
            integration,
            LogLevel.INFO,
            f"Client certificate removed{who}.",
            "Calls to Rally no longer present a client certificate; a server that demands "
            "one will refuse them.",
        )
        audit_integration(integration, by=by, what="Client certificate removed")


def certificate_info(integration: Integration) -> CertificateInfo | None:
    """The certificate in effect for `integration` (its template's, if it has one)."""
    pem = integration.source.client_certificate_pem
    if not pem:
        return None
    try:
        return describe_certificate(pem)
    except CertificateError:
        return None
