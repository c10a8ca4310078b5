"""HTTP to Rally: a keep-alive connection pool, auth, TLS, the per-user cap, retries and
envelopes.

Requests go through urllib3's pool directly, not through `requests`: its per-request work
(preparing the request, the adapter's look-ups, wrapping the answer) was a third of a
create's client CPU, while a Transport's settings are fixed and it needs none of it.

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
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, SSLError

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
from aharally.rally.pinning import Resolver, pinned_pool_classes

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
    "User-Agent": f"aharally/0.1 urllib3/{urllib3.__version__}",
    "Accept": "application/json",
    # What urllib3 decodes (gzip, deflate; br and zstd when their modules are installed).
    "Accept-Encoding": urllib3.util.make_headers(accept_encoding=True)["accept-encoding"],
    "X-RallyIntegrationName": "aharally",
    "X-RallyIntegrationVendor": "aharally",
    "X-RallyIntegrationVersion": "0.1",
    "X-RallyIntegrationLibrary": "aharally.rally (urllib3)",
}
# Called with (method, HTTP status or "error", seconds) after each request to Rally; the
# metrics register here (aharally.observability.instruments) so this package needs no Django.
request_observers: list[Callable[[str, str, float], None]] = []
_requests_here = threading.local()


class RequestsNotHere(Exception):
    """A request asked for on a thread that said it makes none (`no_requests`)."""


@contextlib.contextmanager
def no_requests() -> Iterator[None]:
    """On this thread, a request to Rally raises `RequestsNotHere` instead of waiting on
    Rally: for work that must never wait on the network (a drain's own thread, which keeps a
    dozen requests going, prepares creates that need none but their own)."""
    before = getattr(_requests_here, "refused", False)
    _requests_here.refused = True
    try:
        yield
    finally:
        _requests_here.refused = before


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
        resolve: Resolver | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"The Rally URL must start with https:// (got {base_url!r})")
        self.base_url = base_url
        self.wsapi_url = base_url + WSAPI_PATH
        # A request names its target from the path on (a URL here always starts with this).
        scheme, netloc, *_ = urlsplit(base_url)
        self._origin = f"{scheme}://{netloc}"
        self.credential = credential
        self.client_certificate = client_certificate
        self.cert = (
            (client_certificate.cert_file, client_certificate.key_file)
            if client_certificate
            else None
        )
        # With no bundle of its own, the environment's (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), read
        # once, as `requests` read it; else certifi's, as `requests` used.
        self.verify: bool | str = ca_bundle or _environment_ca_bundle() or True
        self.timeout = timeout
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._timeout = urllib3.Timeout(connect=connect, read=read)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.semaphore = ConcurrencyLimiter.for_key(
            concurrency_key or credential.identity, max_concurrent
        )
        # The per-process semaphore caps this process; other processes (more workers, more
        # machines) use the same credential, so each request also holds a shared slot.
        self.shared_cap = shared_cap
        self.resolve = resolve
        # The environment's proxy for Rally, read once (as `requests` read it, ~/.netrc
        # aside, which a header credential never needs).
        proxies = requests.utils.get_environ_proxies(self.base_url)
        self.proxy = requests.utils.select_proxy(self.base_url, proxies)
        self.http = self._pool_manager(max_concurrent)
        # Without a proxy every request goes to the one pool of Rally's host, asked for once
        # (the manager's look-up, by URL, on each request was a tenth of its CPU).
        self._pool = None if self.proxy else self.http.connection_from_url(self.base_url)
        if (
            isinstance(credential, OAuthToken)
            and credential.refresh_function is None
            and credential.client_id
            and credential.client_secret
        ):
            credential.refresh_function = self._refresh_tokens

    def _pool_manager(self, max_concurrent: int) -> urllib3.PoolManager:
        tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if self.verify else "CERT_NONE"}
        if self.verify:
            bundle = certifi.where() if self.verify is True else self.verify
            tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
        if self.cert:
            tls["cert_file"], tls["key_file"] = self.cert
        options = {
            "num_pools": 4,
            "maxsize": max(max_concurrent, 10),
            "retries": False,
            "timeout": self._timeout,
            **tls,
        }
        if self.proxy:
            # Through the proxy (a CONNECT tunnel for https): no pinning, the proxy connects.
            user, password = requests.utils.get_auth_from_url(self.proxy)
            headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
            return urllib3.ProxyManager(self.proxy, proxy_headers=headers, **options)
        manager = urllib3.PoolManager(**options)
        if self.resolve is not None:
            # Every connection goes to the address `resolve` returns (checked there).
            manager.pool_classes_by_scheme = pinned_pool_classes(self.resolve)
        return manager

    def close(self) -> None:
        self.http.clear()
        self._pool = None  # closed: a later request asks the manager, which opens another
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
                self._post_form,
                token_url=self.base_url + TOKEN_PATH,
                client_id=self.credential.client_id or "",
                client_secret=self.credential.client_secret or "",
                refresh_token=refresh_token,
            )

    def _post_form(self, url: str, body: str, headers: dict[str, str]) -> Answer:
        """A form POSTed to Rally's OAuth endpoint (the token refresh), as any request is."""
        try:
            return self._urlopen("POST", url, body.encode(), {**_HEADERS, **headers}, stream=False)
        except (HTTPError, OSError) as exc:
            raise RallyTransientError(
                f"Could not reach Rally's token endpoint: {_reason(exc)}"
            ) from exc

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
    ) -> Answer:
        headers = {**_HEADERS, "ZSESSIONID": token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if params:
            url += ("&" if "?" in url else "?") + _query(params)
        body = None if data is None else data.encode()
        # No cookie goes back: Rally's answers set session cookies, which beside a key can
        # fail as "Invalid key". Redirects are refused (`_unwrap`), never followed.
        try:
            with self._in_flight(), _observed(method) as outcome:
                answer = self._urlopen(method, url, body, headers, stream=stream)
                outcome.append(str(answer.status_code))
                return answer
        except SSLError as exc:
            raise RallyConfigError(_tls_message(exc, has_cert=self.cert is not None)) from exc
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # Nothing was sent: a transient error even for a write, never "outcome unknown".
            raise RallyTransientError(f"Could not connect to Rally: {_reason(exc)}") from exc
        except (HTTPError, OSError) as exc:
            if _never_connected(exc):
                raise RallyTransientError(f"Could not connect to Rally: {_reason(exc)}") from exc
            if self.cert is None and _looks_like_client_cert_demand(exc):
                raise RallyConfigError(_tls_message(exc, has_cert=False)) from exc
            if isinstance(exc, urllib3.exceptions.TimeoutError):
                raise self._lost(method, f"Rally did not answer in time: {_reason(exc)}") from exc
            raise self._lost(method, f"Connection to Rally lost: {_reason(exc)}") from exc

    def _urlopen(self, method: str, url: str, body, headers, *, stream: bool) -> Answer:
        """One HTTP exchange (tests count them here). Not streamed, the answer is read whole
        here, so its connection goes back to the pool before the place in flight does and the
        next request never opens another; streamed, the place is given back once Rally's
        answer starts: reading its body is not Rally's work, and the reader may pause."""
        options = {"redirect": False, "preload_content": not stream}
        if self._pool is None:
            raw = self.http.urlopen(method, url, body=body, headers=headers, **options)
        else:
            target = url[len(self._origin) :]
            raw = self._pool.urlopen(
                method, target, body=body, headers=headers, assert_same_host=False, **options
            )
        return Answer(raw)

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Hold a place among the credential's requests in flight for one request."""
        if getattr(_requests_here, "refused", False):
            raise RequestsNotHere("This thread makes no requests to Rally here")
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

    def _unwrap(self, response: Answer, *, idempotent: bool) -> tuple[str, dict]:
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


class Answer:
    """Rally's answer to one request: its status, headers and body (read whole unless
    streamed: then `iter_content`, and `close` when done)."""

    __slots__ = ("headers", "raw", "status_code")

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers

    @property
    def content(self) -> bytes:
        return self.raw.data

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def iter_content(self, size: int) -> Iterator[bytes]:
        return self.raw.stream(size, decode_content=True)

    def close(self) -> None:
        # As `requests` closes one: unread, its connection is dropped, never reused.
        self.raw.close()
        self.raw.release_conn()


def _query(params: Mapping[str, Any]) -> str:
    """The query string of `params`, encoded as `requests` encodes them: a list gives the key
    once for each value; None leaves the key out."""
    pairs = []
    for key, values in params.items():
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        pairs += [(key, value) for value in values if value is not None]
    return urlencode(pairs)


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


def _raise_for_json_status(response: Answer) -> Any:
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


def _json_or_none(response: Answer) -> Any:
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
