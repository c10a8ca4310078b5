"""A client certificate for mutual TLS with Rally, as the files `requests` wants."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate for mTLS, as file paths (PEM)."""

    cert_file: str
    key_file: str

    @classmethod
    def from_pem(cls, cert_pem: str, key_pem: str) -> TemporaryClientCertificate:
        """Write PEM strings to private temporary files; ``close()`` removes them."""
        return TemporaryClientCertificate(cert_pem, key_pem)


class TemporaryClientCertificate:
    """PEM strings written to files only we can read (``requests`` wants file paths)."""

    def __init__(self, cert_pem: str, key_pem: str) -> None:
        self._directory: str | None = None
        if "BEGIN CERTIFICATE" not in cert_pem:
            raise ValueError("The client certificate is not a PEM certificate")
        if "PRIVATE KEY" not in key_pem:
            raise ValueError("The client key is not a PEM private key")
        self._directory = tempfile.mkdtemp(prefix="rally-cert-")  # mode 0700
        self.cert_file = self._write("client.crt", cert_pem)
        self.key_file = self._write("client.key", key_pem)

    def _write(self, name: str, text: str) -> str:
        path = os.path.join(self._directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path

    def close(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __del__(self) -> None:
        self.close()
