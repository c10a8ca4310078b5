"""The one place that builds a Rally client for an integration.

Account, credentials and client certificate come from `integration.source` (the template when
there is one), so every integration built on a template uses the template's tokens. Refreshed
OAuth tokens are stored (encrypted) on that source at once: Rally rotates refresh tokens, and
one not stored is a grant lost. When Rally refuses the credential, the source is marked
`needs_reauthorization` and the integration log says what to do.

    with rally_session(integration, doing="read the workspaces") as client:
        workspaces = client.workspaces()

`rally_session` turns every client error into `RallyProblem`, whose message is written for
the owner and never holds a secret.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.db import transaction

from aharally.integrations import hooks
from aharally.integrations.log import record_failure
from aharally.integrations.models import AuthMethod, Integration, IntegrationState
from aharally.integrations.secrets import Secret
from aharally.integrations.url_safety import (
    UnsafeRallyURL,
    check_destination,
    connection_guard,
    same_origin,
)
from aharally.rally.auth import ApiKey, Credential, OAuthToken, TokenSet
from aharally.rally.client import RallyClient
from aharally.rally.errors import (
    RallyAuthError,
    RallyConfigError,
    RallyError,
    RallyNotFound,
    RallyTransientError,
)
from aharally.rally.pinning import mount_pinned
from aharally.rally.transport import RALLY_CONCURRENCY_PER_USER, ClientCertificate, RetryPolicy

logger = logging.getLogger(__name__)

# The wizard's look-ups run while the owner waits: fail fast, retry once at most.
INTERACTIVE_TIMEOUT = (5.0, 20.0)
INTERACTIVE_RETRY = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=1.0, max_retry_after=2.0)


class RallyProblem(Exception):
    """A failed conversation with Rally, explained for the owner (no secrets inside)."""

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class NotConnected(RallyProblem):
    """The integration has no usable account or credential yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="config")


def has_credentials(integration: Integration) -> bool:
    source = integration.source
    if source.auth_method == AuthMethod.API_KEY:
        return bool(source.api_key)
    return bool(source.access_token)


def _reveal(value) -> str:
    # A Secret from the database, or a plain str on an instance that was just assigned.
    return value.reveal() if isinstance(value, Secret) else str(value or "")


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client registered at one Rally; `own` when the owner registered it."""

    client_id: str
    client_secret: str = field(repr=False)
    own: bool = False


def installation_client_applies(rally_url: str) -> bool:
    """Whether the installation's OAuth client (RALLY_OAUTH_*) belongs to this Rally URL."""
    return bool(
        settings.RALLY_OAUTH_CLIENT_ID
        and settings.RALLY_OAUTH_URL
        and same_origin(rally_url, settings.RALLY_OAUTH_URL)
    )


def oauth_client_for(integration: Integration) -> OAuthClient | None:
    """The OAuth client for the integration's Rally, or None when there is none.

    The installation's client secret goes only to RALLY_OAUTH_URL; any other Rally needs a
    client its owner registered there (stored on the source), or an API key.
    """
    source = integration.source
    own_secret = _reveal(source.oauth_client_secret)
    if source.oauth_client_id and own_secret:
        return OAuthClient(source.oauth_client_id, own_secret, own=True)
    if installation_client_applies(source.rally_url):
        return OAuthClient(settings.RALLY_OAUTH_CLIENT_ID, settings.RALLY_OAUTH_CLIENT_SECRET)
    return None


def credential_for(integration: Integration) -> Credential:
    """The API key or the OAuth tokens of the integration's source."""
    source = integration.source
    if source.auth_method == AuthMethod.API_KEY:
        if not source.api_key:
            raise NotConnected("No Rally API key is set. Authorize the integration first.")
        return ApiKey(_reveal(source.api_key))
    if not source.access_token:
        raise NotConnected("The integration is not authorized with Rally yet. Authorize it first.")
    expires_at = source.token_expires_at.timestamp() if source.token_expires_at else None
    # Without a client bound to this Rally the token is used as it is, never refreshed there.
    client = oauth_client_for(integration)
    return OAuthToken(
        _reveal(source.access_token),
        refresh_token=_reveal(source.refresh_token) or None,
        expires_at=expires_at,
        client_id=client.client_id if client else None,
        client_secret=client.client_secret if client else None,
        on_refresh=_token_storer(source.pk),
    )


def _token_storer(source_id: int):
    def store(tokens: TokenSet) -> None:
        expires = datetime.fromtimestamp(tokens.expires_at, tz=UTC) if tokens.expires_at else None
        # Committed at once, whatever the caller's transaction does next: the old refresh
        # token is already spent at Rally.
        with transaction.atomic():
            source = Integration.objects.select_for_update().get(pk=source_id)
            source.access_token = tokens.access_token
            if tokens.refresh_token:
                source.refresh_token = tokens.refresh_token
            source.token_expires_at = expires
            source.needs_reauthorization = False
            source.save(
                update_fields=[
                    "access_token",
                    "refresh_token",
                    "token_expires_at",
                    "needs_reauthorization",
                ]
            )
        logger.info("Stored refreshed Rally tokens for integration %s", source_id)

    return store


def client_certificate_for(integration: Integration):
    source = integration.source
    if source.client_certificate_pem and source.client_private_key_pem:
        return ClientCertificate.from_pem(
            source.client_certificate_pem, _reveal(source.client_private_key_pem)
        )
    return None


def client_for(
    integration: Integration,
    *,
    credential: Credential | None = None,
    interactive: bool = True,
    workspace: bool = True,
) -> RallyClient:
    """A client for the integration's Rally (checked against SSRF again: DNS may change)."""
    check_secrets(integration)
    source = integration.source
    credential = credential or credential_for(integration)
    try:
        check_destination(source.rally_url)
    except UnsafeRallyURL as error:
        raise RallyProblem(str(error), kind="config") from None
    scope = None
    if workspace and integration.rally_workspace_oid:
        scope = f"/workspace/{integration.rally_workspace_oid}"
    kwargs = {}
    if interactive:
        kwargs = {"timeout": INTERACTIVE_TIMEOUT, "retry": INTERACTIVE_RETRY}
    limit = min(settings.SYNC_CONCURRENCY, RALLY_CONCURRENCY_PER_USER)
    return RallyClient(
        source.rally_url,
        credential=credential,
        workspace=scope,
        client_certificate=client_certificate_for(integration),
        ca_bundle=settings.RALLY_CA_BUNDLE or None,
        resolve=connection_guard(),
        shared_cap=shared_cap_for(source.rally_url, credential, limit=limit),
        **kwargs,
    )


def shared_cap_for(rally_url: str, credential: Credential, *, limit: int):
    """Every process's requests as this Rally user share `limit` slots (Rally counts 12 a
    user): sends, catch-ups, webhooks and look-ups alike, and integrations built on one
    template, which share its credential."""
    from aharally.concurrency.slots import shared_cap

    digest = hashlib.sha256(f"{rally_url.rstrip('/')} {credential.identity}".encode()).hexdigest()
    return shared_cap(f"rally:{digest[:40]}", limit=limit, lease=settings.SYNC_SLOT_LEASE_SECONDS)


@contextmanager
def rally_session(
    integration: Integration,
    *,
    doing: str,
    credential: Credential | None = None,
    interactive: bool = True,
) -> Iterator[RallyClient]:
    """A client, closed afterwards; Rally's errors come out as `RallyProblem`."""
    client = client_for(integration, credential=credential, interactive=interactive)
    try:
        yield client
    except RallyError as error:
        stored = credential is None
        raise explain(integration, error, doing=doing, stored_credential=stored) from None
    finally:
        client.close()


def explain(
    integration: Integration, error: RallyError, *, doing: str, stored_credential: bool = True
) -> RallyProblem:
    """The owner-facing problem for a client error; records auth failures on the integration."""
    host = integration.source.rally_url
    if isinstance(error, RallyAuthError):
        if stored_credential:
            reason = f"Rally refused the credential while trying to {doing}."
            mark_needs_reauthorization(integration, reason=reason)
            return RallyProblem(
                f"Rally refused the integration's credential while trying to {doing}. "
                "Authorize the integration again.",
                kind="auth",
            )
        return RallyProblem("Rally refused that credential. Check it and try again.", kind="auth")
    if isinstance(error, RallyConfigError):
        return RallyProblem(f"Could not {doing}: {error.message}.", kind="config")
    if isinstance(error, RallyTransientError):
        return RallyProblem(
            f"Could not {doing}: {host} did not answer ({error.message}). "
            "Check the Rally URL, or try again in a moment.",
            kind="transient",
        )
    if isinstance(error, RallyNotFound):
        return RallyProblem(f"Could not {doing}: {error.message}.", kind="not_found")
    return RallyProblem(f"Could not {doing}: Rally said “{error.message}”.", kind=error.kind)


UNREADABLE_SECRETS = (
    "A stored secret of this integration can no longer be decrypted: the installation's "
    "encryption keys (AHARALLY_ENCRYPTION_KEYS or SECRET_KEY) changed."
)


def ready_to_sync(integration_id: int) -> tuple[Integration | None, str]:
    """The integration a sync task works for, with its template and workspace, or why it
    can't work now ("not enabled", "needs re-authorization"); the reason is "" when it can."""
    integration = (
        Integration.objects.select_related("template", "workspace")
        .filter(pk=integration_id)
        .first()
    )
    if integration is None or integration.state != IntegrationState.ENABLED:
        return None, "not enabled"
    if check_secrets(integration) or integration.source.needs_reauthorization:
        return None, "needs re-authorization"
    return integration, ""


def check_secrets(integration: Integration) -> bool:
    """Whether a stored secret of the integration or its source can no longer be decrypted.

    When one can't, the flag `needs_reauthorization` is stored and the log says why, once.
    Called where secrets are used or shown (client_for, the integration's pages), never while
    loading: reading an integration writes nothing.
    """
    found = False
    for candidate in dict.fromkeys([integration.source, integration]):
        if not candidate.own_secrets_unreadable:
            continue
        found = True
        stored = Integration.objects.filter(pk=candidate.pk, needs_reauthorization=False)
        if stored.update(needs_reauthorization=True):
            mark_needs_reauthorization(candidate, reason=UNREADABLE_SECRETS)
    return found


def mark_needs_reauthorization(integration: Integration, *, reason: str) -> None:
    source = integration.source
    Integration.objects.filter(pk__in={integration.pk, source.pk}).update(
        needs_reauthorization=True
    )
    integration.needs_reauthorization = True
    source.needs_reauthorization = True
    record_failure(
        integration,
        reason,
        hint="Open the integration's settings and authorize it with Rally again.",
    )
    hooks.lifecycle("needs_reauthorization", integration)


def tls_verify() -> bool | str:
    """What every request to Rally verifies its certificate against (RALLY_CA_BUNDLE)."""
    return settings.RALLY_CA_BUNDLE or True


def probe_rally_url(url: str) -> str | None:
    """Check that something answers at the URL; a warning for the owner, or None.

    Raises RallyProblem when nothing answers. Any HTTP answer counts (Rally says 401 without
    credentials); redirects are not followed.
    """
    session = mount_pinned(requests.Session(), connection_guard())
    try:
        session.get(
            url + "/slm/webservice/v2.0/security/authorize",
            timeout=INTERACTIVE_TIMEOUT,
            allow_redirects=False,
            verify=tls_verify(),
        )
    except requests.exceptions.SSLError as error:
        text = str(error).lower()
        if "certificate required" in text or ("alert" in text and "certificate" in text):
            return (
                "Rally asks for a client certificate: set one under More options → Set client "
                "certificate before you authorize."
            )
        raise RallyProblem(
            f"Could not open a secure connection to {url}: its TLS certificate could not be "
            "verified.",
            kind="config",
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
        raise RallyProblem(
            f"Could not reach {url}. Check the Rally URL, or try again when the server is up.",
            kind="transient",
        ) from None
    finally:
        session.close()
    return None
