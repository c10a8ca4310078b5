"""Certificates for serving the sandbox over HTTPS, optionally demanding client certificates.

`ensure_certificates()` writes a private CA, a server certificate for 127.0.0.1/localhost and a
client certificate, all signed by that CA, and reuses them while they stay valid, so a CA bundle
handed to a client keeps working across restarts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "var" / "rally-sandbox-tls"
SERVER_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1", "::1")
CA_DAYS = 3650
LEAF_DAYS = 825
# Regenerate a leaf certificate this long before it expires rather than let a demo break.
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Certificates:
    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> Certificates:
        return cls(
            directory=directory,
            ca_cert=directory / "ca.pem",
            ca_key=directory / "ca-key.pem",
            server_cert=directory / "server.pem",
            server_key=directory / "server-key.pem",
            client_cert=directory / "client.pem",
            client_key=directory / "client-key.pem",
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "directory": str(self.directory),
            "ca_cert": str(self.ca_cert),
            "server_cert": str(self.server_cert),
            "server_key": str(self.server_key),
            "client_cert": str(self.client_cert),
            "client_key": str(self.client_key),
        }


def default_directory() -> Path:
    return Path(os.environ.get("RALLY_SANDBOX_TLS_DIR") or DEFAULT_DIR)


def ensure_certificates(directory: Path | None = None) -> Certificates:
    """Create whatever is missing or about to expire; leave valid files untouched."""
    certs = Certificates.in_directory(Path(directory) if directory else default_directory())
    certs.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(certs.directory, 0o700)

    ca_key, ca_cert, ca_is_new = _load_or_make_ca(certs)
    for cert_path, key_path, is_server in (
        (certs.server_cert, certs.server_key, True),
        (certs.client_cert, certs.client_key, False),
    ):
        if ca_is_new or not _leaf_is_usable(cert_path, key_path, ca_cert):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _issue_leaf(key, ca_key, ca_cert, server=is_server)
            _write_key(key_path, key)
            _write_cert(cert_path, cert)
    return certs


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_or_make_ca(
    certs: Certificates,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, bool]:
    if certs.ca_cert.exists() and certs.ca_key.exists():
        try:
            cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
            key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
        except ValueError:
            pass  # unreadable files: start over with a fresh CA
        else:
            if cert.not_valid_after_utc - RENEW_BEFORE > _now() and isinstance(
                key, ec.EllipticCurvePrivateKey
            ):
                return key, cert, False

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aharally"),
            x509.NameAttribute(NameOID.COMMON_NAME, "aharally Rally sandbox local CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(certs.ca_key, key)
    _write_cert(certs.ca_cert, cert)
    return key, cert, True


def _issue_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    server: bool,
) -> x509.Certificate:
    common_name = "localhost" if server else "aharally Rally client"
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aharally"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _leaf_is_usable(cert_path: Path, key_path: Path, ca_cert: x509.Certificate) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, x509.InvalidSignature):
        return False
    same_key = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return same_key and cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with owner-only permissions from the start; never world-readable even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def gunicorn_options(certs: Certificates, *, require_client_cert: bool) -> dict[str, object]:
    """Gunicorn settings that serve HTTPS with these files (and demand a client certificate)."""
    import ssl

    options: dict[str, object] = {
        "certfile": str(certs.server_cert),
        "keyfile": str(certs.server_key),
    }
    if require_client_cert:
        options["ca_certs"] = str(certs.ca_cert)
        options["cert_reqs"] = ssl.CERT_REQUIRED
    return options


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The TLS options of `serve` and `run`."""
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with the generated certificates"
    )
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        help="with --tls: demand a client certificate signed by the sandbox CA (mTLS)",
    )
    parser.add_argument(
        "--tls-dir",
        default=None,
        help=f"where the certificates live (default: $RALLY_SANDBOX_TLS_DIR or {DEFAULT_DIR})",
    )


def gunicorn_tls_options(args: argparse.Namespace) -> dict[str, object]:
    """Gunicorn options for the parsed `serve` arguments: empty unless --tls was given."""
    if getattr(args, "require_client_cert", False) and not getattr(args, "tls", False):
        raise SystemExit("--require-client-cert needs --tls")
    if not getattr(args, "tls", False):
        return {}
    directory = Path(args.tls_dir) if getattr(args, "tls_dir", None) else None
    certs = ensure_certificates(directory)
    return gunicorn_options(certs, require_client_cert=args.require_client_cert)


def print_locations(directory: Path | None = None) -> None:
    """The `certs` command: make sure the files exist and say where they are."""
    certs = ensure_certificates(directory)
    print(f"Rally sandbox TLS files in {certs.directory}")
    print(f"  CA certificate (trust this):  {certs.ca_cert}")
    print(f"  server certificate and key:   {certs.server_cert}, {certs.server_key}")
    print(f"  client certificate and key:   {certs.client_cert}, {certs.client_key}")
    print(f"  e.g. REQUESTS_CA_BUNDLE={certs.ca_cert}")
