"""Secrets at rest: OAuth tokens, API keys and private keys are stored encrypted.

Fernet (AES-128-CBC + HMAC) from `cryptography`. Keys come from AHARALLY_ENCRYPTION_KEYS
(comma-separated Fernet keys, the first encrypts, all decrypt — so a key can be rotated with
`manage.py rotate_encryption_keys`). Production requires them; under DEBUG or tests, one key
is derived from SECRET_KEY when they are unset.

A secret the keys cannot decrypt (the keys changed) reads as an empty `UnreadableSecret`:
the integration then needs re-authorization, its pages still work, the log says why, and
its ciphertext is written back unchanged, so restoring the right key restores it.
"""

from __future__ import annotations

import base64
import logging
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)

MISSING_KEYS_MESSAGE = (
    "Set AHARALLY_ENCRYPTION_KEYS (comma-separated Fernet keys) when DEBUG is off: secrets at "
    'rest are not derived from SECRET_KEY in production. Make one with: python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def keys_may_be_derived() -> bool:
    """Whether a missing AHARALLY_ENCRYPTION_KEYS may fall back to SECRET_KEY (dev and tests)."""
    return bool(settings.DEBUG or getattr(settings, "TESTING", False))


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
    if not keys_may_be_derived():
        raise ImproperlyConfigured(MISSING_KEYS_MESSAGE)
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"aharally-secrets", info=b"fernet"
    ).derive(settings.SECRET_KEY.encode())
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])


def check_keys() -> None:
    """Raise ImproperlyConfigured now when the encryption keys are missing or malformed."""
    _fernet.cache_clear()
    _fernet()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def rotate(ciphertext: str) -> str:
    """The same secret encrypted under the newest key (SecretUnreadable when no key reads it)."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret could not be decrypted.") from None


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


class UnreadableSecret(Secret):
    """A stored secret no configured key decrypts: empty (falsy), keeping its ciphertext."""

    unreadable = True

    def __new__(cls, ciphertext: str) -> UnreadableSecret:
        instance = super().__new__(cls, "")
        instance.ciphertext = ciphertext
        return instance


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python sees a `Secret` (empty string when unset).

    Not queryable by value: ciphertexts differ on every save.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return Secret("")
        try:
            return Secret(decrypt(value))
        except SecretUnreadable:
            logger.warning(
                "A stored %s.%s cannot be decrypted with the configured keys "
                "(AHARALLY_ENCRYPTION_KEYS or SECRET_KEY changed?): it reads as unset, so the "
                "integration needs re-authorization. Restore the old key to recover it.",
                self.model._meta.label if hasattr(self, "model") else "secret",
                self.name,
            )
            return UnreadableSecret(value)

    def to_python(self, value):
        if isinstance(value, Secret) or value is None:
            return value
        return Secret(value)

    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecret):
            return value.ciphertext
        if value in (None, ""):
            return ""
        if isinstance(value, Secret):
            value = value.reveal()
        return encrypt(value)
