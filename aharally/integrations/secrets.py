"""Secrets at rest: OAuth tokens, API keys and private keys are stored encrypted.

Fernet (AES-128-CBC + HMAC) from `cryptography`. Keys come from AHARALLY_ENCRYPTION_KEYS
(comma-separated Fernet keys, the first encrypts, all decrypt — so a key can be rotated);
without it, one key is derived from SECRET_KEY, so changing SECRET_KEY then makes stored
secrets unreadable (owners re-authorize).
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@cache
def _fernet() -> MultiFernet:
    configured = [k.strip() for k in settings.ENCRYPTION_KEYS if k.strip()]
    if configured:
        try:
            return MultiFernet([Fernet(key) for key in configured])
        except ValueError:
            raise ImproperlyConfigured(
                "AHARALLY_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64 bytes each)."
            ) from None
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"aharally-secrets", info=b"fernet"
    ).derive(settings.SECRET_KEY.encode())
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret could not be decrypted.") from None


class Secret(str):
    """A decrypted secret whose repr and str never show the value."""

    def reveal(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python sees a `Secret` (empty string when unset).

    Not queryable by value: ciphertexts differ on every save.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return Secret("")
        return Secret(decrypt(value))

    def to_python(self, value):
        if isinstance(value, Secret) or value is None:
            return value
        return Secret(value)

    def get_prep_value(self, value):
        if value in (None, ""):
            return ""
        if isinstance(value, Secret):
            value = value.reveal()
        return encrypt(value)
