"""HTTP to Rally: one keep-alive session, auth, TLS, the per-user cap, retries and envelopes.

Retry rules: reads (GET) and deletes are retried with exponential backoff and jitter on
5xx, 429 and connection failures, waiting at least what ``Retry-After`` asks. Writes
(create, update, collection changes, batch) are never retried: when their response is lost
after sending they raise ``RallyOutcomeUnknown`` and the caller must look before resending.
A 401 with a refreshable OAuth token is refreshed and resent once, for any method, since
Rally refused it before doing anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3
from requests.adapters import HTTPAdapter

from aharally.rally.auth import TOKEN_PATH, Credential, OAuthToken, refresh_tokens
from aharally.rally.certificates import ClientCertificate, TemporaryClientCertificate
from aharally.rally.errors import (
    RallyConfigError,
    RallyError,
    RallyOutcomeUnknown,
    RallyPermissionDenied,
    RallyTransientError,
    RallyValidationError,
    error_from_messages,
    error_from_status,
)
from aharally.rally.pinning import PinnedAdapter, Resolver

logger = logging.getLogger(__name__)

PRODUCTION_URL = "https://rally1.rallydev.com"
WSAPI_PATH = "/slm/webservice/v2.0"
# Rally lets each user have 12 requests in flight; more are queued on Rally's side anyway.
RALLY_CONCURRENCY_PER_USER = 12
DEFAULT_TIMEOUT = (10.0, 120.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE"})
# Gateway errors on a write mean Rally may still have applied it (its 5-minute kill → 502/524).
_WRITE_OUTCOME_UNKNOWN_STATUSES = frozenset({502, 504, 524})
_HEADERS = {
    "Accept": "application/json",
    "X-RallyIntegrationName": "aharally",
    "X-RallyIntegrationVendor": "aharally",
    "X-RallyIntegrationVersion": "0.1",
    "X-RallyIntegrationLibrary": "aharally.rally (python-requests)",
}
# Called with (method, HTTP status or "error", seconds) after each request to Rally; the
# metrics register here (aharally.observability.instruments) so this package needs no Django.
request_observers: list[Callable[[str, str, float], None]] = []


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter": attempt n waits between cap/2 and cap."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    # A Retry-After longer than this is not waited for: the error goes to the caller.
    max_retry_after: float = 300.0

    def delay(self, attempt: int, *, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = cap / 2 + rng.uniform(0, cap / 2)
        if retry_after is not None:
            return max(retry_after, jittered)
        return jittered


class SharedCap(Protocol):
    """A cap held across processes (aharally.concurrency): `hold()` waits for a slot."""

    def hold(self) -> contextlib.AbstractContextManager[None]: ...


class ConcurrencyLimiter:
    """Process-wide semaphores, one per credential, shared by every client that uses it."""

    _lock = threading.Lock()
    _semaphores: dict[str, tuple[int, threading.BoundedSemaphore]] = {}

    @classmethod
    def for_key(cls, key: str, limit: int) -> threading.BoundedSemaphore:
        if limit < 1:
            raise ValueError("The concurrency cap must be at least 1")
        with cls._lock:
            existing = cls._semaphores.get(key)
            if existing is None:
                existing = (limit, threading.BoundedSemaphore(limit))
                cls._semaphores[key] = existing
            elif existing[0] != limit:
                # A second cap for the same user would let both run: keep the first one.
                logger.warning("Rally concurrency cap %s ignored; %s in use", limit, existing[0])
            return existing[1]


class Transport:
    """Sends one WSAPI request and returns the unwrapped envelope, or raises a typed error."""

    def __init__(
        self,
        base_url: str,
        credential: Credential,
        *,
        client_certificate: ClientCertificate | TemporaryClientCertificate | None = None,
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_concurrent: int = RALLY_CONCURRENCY_PER_USER,
        concurrency_key: str | None = None,
        shared_cap: SharedCap | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"The Rally URL must start with https:// (got {base_url!r})")
        self.base_url = base_url
        self.wsapi_url = base_url + WSAPI_PATH
        self.credential = credential
        self.client_certificate = client_certificate
        self.cert = (
            (client_certificate.cert_file, client_certificate.key_file)
            if client_certificate
            else None
        )
        # Passed on every request. With no bundle of its own, the environment's
        # (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), read once: see `trust_env` below.
        self.verify: bool | str = ca_bundle or _environment_ca_bundle() or True
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.semaphore = ConcurrencyLimiter.for_key(
            concurrency_key or credential.identity, max_concurrent
        )
        # The per-process semaphore caps this process; other processes (more workers, more
        # machines) use the same credential, so each request also holds a shared slot.
        self.shared_cap = shared_cap
        self.session = session or requests.Session()
        pool = {"pool_connections": 4, "pool_maxsize": max(max_concurrent, 10)}
        # With `resolve`, every connection goes to the address it returns (checked there).
        adapter = PinnedAdapter(resolve, **pool) if resolve else HTTPAdapter(**pool)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update(_HEADERS)
        # The environment's proxies are read once, here, rather than by `requests` on every
        # request (with the CA bundle above, and ~/.netrc, which a header credential never
        # needs): they were read again for every create.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.trust_env = False
        self.proxies = dict(self.session.proxies)
        if (
            isinstance(credential, OAuthToken)
            and credential.refresh_function is None
            and credential.client_id
            and credential.client_secret
        ):
            credential.refresh_function = self._refresh_tokens

    def close(self) -> None:
        self.session.close()
        if isinstance(self.client_certificate, TemporaryClientCertificate):
            self.client_certificate.close()

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to ``/slm/webservice/v2.0``, or a ref as is."""
        if path.startswith(("https://", "http://")):
            if not path.startswith(self.base_url + "/"):
                # Never send our credential to a host that a response named.
                raise RallyConfigError(f"Refusing to follow a reference to another host: {path}")
            return path
        return self.wsapi_url + "/" + path.lstrip("/")

    def _refresh_tokens(self, refresh_token: str):
        assert isinstance(self.credential, OAuthToken)
        with self._in_flight():
            return refresh_tokens(
                self.session,
                token_url=self.base_url + TOKEN_PATH,
                client_id=self.credential.client_id or "",
                client_secret=self.credential.client_secret or "",
                refresh_token=refresh_token,
                timeout=self.timeout,
                verify=self.verify,
                cert=self.cert,
            )

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        """The envelope's root key and content (``QueryResult``, ``CreateResult``, …)."""
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path)
        data = None if body is None else json.dumps(body)
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            token = self.credential.token()
            try:
                response = self._once(method, url, params, data, token)
            except RallyError as error:
                self._maybe_wait(error, attempt, idempotent)
                continue
            if response.status_code == 401 and self.credential.can_refresh and not refreshed:
                refreshed = True
                self.credential.refresh_after_failure(token)
                attempt -= 1
                continue
            try:
                return self._unwrap(response, idempotent=idempotent)
            except (RallyTransientError, RallyOutcomeUnknown) as error:
                self._maybe_wait(error, attempt, idempotent)

    def send_json(self, method: str, url: str, *, body: Any = None) -> tuple[int, Any]:
        """A JSON call outside WSAPI on the same host (the webhook API): (status, payload).

        Same credential, cap, TLS and retries as ``send``; answers are not WSAPI envelopes.
        HTTP errors come out typed (401 auth, 403 ``RallyPermissionDenied``, 404, 4xx with the
        API's ``Errors``, 5xx transient).
        """
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS
        if not url.startswith(self.base_url + "/"):
            raise RallyConfigError(f"Refusing to send the credential to another host: {url}")
        data = None if body is None else json.dumps(body)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._once(method, url, None, data, self.credential.token())
                return response.status_code, _raise_for_json_status(response)
            except RallyError as error:
                self._maybe_wait(error, attempt, idempotent)

    def _maybe_wait(self, error: RallyError, attempt: int, idempotent: bool) -> None:
        """Sleep before the next attempt, or raise ``error`` when it must not be retried."""
        if not idempotent or not isinstance(error, RallyTransientError):
            raise error
        if attempt >= self.retry.max_attempts:
            raise error
        delay = self.retry.delay(attempt, retry_after=error.retry_after, rng=self.rng)
        if delay > self.retry.max_retry_after:
            raise error
        logger.info("Rally %s; retry %d in %.1fs", error.kind, attempt, delay)
        self.sleep(delay)

    def _once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        data: str | None,
        token: str,
        *,
        stream: bool = False,
    ) -> requests.Response:
        headers = {**self.session.headers, "ZSESSIONID": token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        # Prepared here and handed to the session's adapter, not through `Session.request`:
        # its per-request merging of settings, cookies, hooks and redirects (none of which a
        # Transport uses: its settings are fixed, a credential goes in a header, redirects
        # are refused) cost a sixth of each request's CPU in aharally. No cookie goes back:
        # Rally's answers set session cookies, which beside a key can fail as "Invalid key".
        request = requests.PreparedRequest()
        request.prepare(method=method, url=url, headers=headers, data=data, params=params)
        adapter = self.session.get_adapter(url)
        try:
            with self._in_flight(), _observed(method) as outcome:
                response = adapter.send(
                    request,
                    timeout=self.timeout,
                    verify=self.verify,
                    cert=self.cert,
                    proxies=self.proxies,
                    # Streamed, the place in flight is given back once Rally's answer starts:
                    # reading its body is not Rally's work, and the reader may pause.
                    stream=stream,
                )
                if not stream:
                    # Read whole here, as `Session.send` did: its connection goes back to the
                    # pool before the place in flight does, so no request opens a new one.
                    response.content  # noqa: B018 (reading the body is the point)
                outcome.append(str(response.status_code))
                return response
        except requests.exceptions.SSLError as exc:
            raise RallyConfigError(_tls_message(exc, has_cert=self.cert is not None)) from exc
        except requests.exceptions.ConnectTimeout as exc:
            # Nothing was sent: a transient error even for a write, never "outcome unknown".
            raise RallyTransientError(f"Could not connect to Rally: {_reason(exc)}") from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise RallyTransientError(f"Could not connect to Rally: {_reason(exc)}") from exc
            if self.cert is None and _looks_like_client_cert_demand(exc):
                raise RallyConfigError(_tls_message(exc, has_cert=False)) from exc
            raise self._lost(method, f"Connection to Rally lost: {_reason(exc)}") from exc
        except (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise self._lost(method, f"Rally did not answer in time: {_reason(exc)}") from exc

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Hold a place among the credential's requests in flight for one request."""
        with self.semaphore:
            if self.shared_cap is None:
                yield
            else:
                with self.shared_cap.hold():
                    yield

    @staticmethod
    def _lost(method: str, message: str) -> RallyError:
        if method in IDEMPOTENT_METHODS:
            return RallyTransientError(message)
        return RallyOutcomeUnknown(
            f"{message}. The {method} may have been applied; look before sending it again."
        )

    def _unwrap(self, response: requests.Response, *, idempotent: bool) -> tuple[str, dict]:
        status = response.status_code
        payload = _json_or_none(response)
        if 300 <= status < 400:
            # Rally does not redirect API calls; a redirect means the URL points elsewhere
            # (a login page, a proxy). Following it could hand our credential to that host.
            raise RallyConfigError(
                f"Rally answered with a redirect (HTTP {status}); check the Rally URL",
                status=status,
            )
        if status != 200:
            if not idempotent and status in _WRITE_OUTCOME_UNKNOWN_STATUSES:
                raise RallyOutcomeUnknown(
                    f"Rally answered HTTP {status} to a write; it may have been applied",
                    status=status,
                )
            envelope = _envelope(payload)
            if envelope and envelope[1].get("Errors") and status not in (401, 429) and status < 500:
                raise error_from_messages(envelope[1]["Errors"], status=status)
            raise error_from_status(
                status, body=response.text[:2000], retry_after=response.headers.get("Retry-After")
            )
        envelope = _envelope(payload)
        if envelope is None:
            message = "Rally answered HTTP 200 with something that is not a WSAPI response"
            if idempotent:
                raise RallyTransientError(message, status=status)
            raise RallyOutcomeUnknown(message + "; the write may have been applied", status=status)
        root, content = envelope
        errors = content.get("Errors") or []
        if errors:
            raise error_from_messages(errors, warnings=content.get("Warnings") or [], status=200)
        return root, content


@contextlib.contextmanager
def _observed(method: str):
    """Time one request (inside the cap: waiting for a slot is not Rally's latency)."""
    outcome: list[str] = []
    started = time.monotonic()
    try:
        yield outcome
    finally:
        elapsed = time.monotonic() - started
        for observe in request_observers:
            try:
                observe(method, outcome[0] if outcome else "error", elapsed)
            except Exception:  # a metric must never break a request
                logger.exception("A Rally request observer failed")


def _environment_ca_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


def _raise_for_json_status(response: requests.Response) -> Any:
    status = response.status_code
    payload = _json_or_none(response)
    if status < 300:
        return payload
    errors = payload.get("Errors") if isinstance(payload, dict) else None
    messages = [str(m) for m in errors] if isinstance(errors, list) and errors else []
    if status == 403:
        raise RallyPermissionDenied(
            "; ".join(messages) or "Rally denied this user the action (HTTP 403)", status=status
        )
    if status in (400, 409, 422) and messages:
        raise RallyValidationError("; ".join(messages), messages=messages, status=status)
    raise error_from_status(
        status, body=response.text[:2000], retry_after=response.headers.get("Retry-After")
    )


def _json_or_none(response: requests.Response) -> Any:
    # Parsed from the bytes: `response.json()` decodes them to a str first, a second copy of
    # a catch-up's page (megabytes) held while it is parsed.
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _envelope(payload: Any) -> tuple[str, dict[str, Any]] | None:
    """Rally wraps every body in one root key; single objects use their type's name."""
    if isinstance(payload, dict) and len(payload) == 1:
        ((root, content),) = payload.items()
        if isinstance(content, dict):
            return root, content
    return None


def _never_connected(exc: Exception) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            current = current.reason
            continue
        current = (
            current.__cause__
            or current.__context__
            or (
                current.args[0]
                if current.args and isinstance(current.args[0], BaseException)
                else None
            )
        )
    return False


def _reason(exc: Exception) -> str:
    return type(exc).__name__


def _looks_like_client_cert_demand(exc: Exception) -> bool:
    text = str(exc).lower()
    return "certificate required" in text or ("alert" in text and "certificate" in text)


def _tls_message(exc: Exception, *, has_cert: bool) -> str:
    detail = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        return (
            "Rally's TLS certificate could not be verified; configure the CA bundle that signed it"
        )
    if not has_cert:
        return (
            "Rally refused the TLS connection; it may require a client certificate, and none "
            "is configured"
        )
    return "Rally refused the TLS connection; check the client certificate and its key"
