"""OAuth 2.0 as Rally does it: clients, the grants users give them, codes and tokens.

Secrets (client secrets, codes, tokens) are stored as SHA-256 digests only; they are long random
strings, so a plain digest is as strong as a password hash here and fast to look up.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Client(models.Model):
    client_id = models.CharField(max_length=100, unique=True)
    secret_digest = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    # One URI per line; a redirect must equal one of them exactly.
    redirect_uris = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sandbox_oauth_client"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def redirect_uri_list(self) -> list[str]:
        return [uri.strip() for uri in self.redirect_uris.splitlines() if uri.strip()]


class Grant(models.Model):
    """A user's consent to one client: revoking it kills every code and token under it."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        "sandbox_accounts.User", on_delete=models.CASCADE, related_name="oauth_grants"
    )
    scope = models.CharField(max_length=200, default="alm")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_oauth_grant"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} → {self.client}"

    @property
    def is_active(self) -> bool:
        return self.revoked is None


class AuthorizationCode(models.Model):
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="codes")
    code_digest = models.CharField(max_length=64, unique=True)
    redirect_uri = models.TextField()
    expires = models.DateTimeField()
    used = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_oauth_code"

    def __str__(self) -> str:
        return f"code for {self.grant}"


class Token(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    # Access tokens expire; refresh tokens live until used (rotation) or revoked.
    expires = models.DateTimeField(null=True, blank=True)
    # Set when a refresh token was exchanged, or any token was revoked.
    ended = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_oauth_token"
        indexes = [models.Index(fields=["grant", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} token for {self.grant}"

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.ended is None and (self.expires is None or self.expires > now)
