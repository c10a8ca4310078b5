"""WSGI middleware, outermost around the sandbox: injected faults and concurrency counting.

It sits outside Django so that latency and failures happen before any view runs, and so that a
"drop after commit" can let Django finish (and commit) before the TCP connection is cut.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any

from rally_sandbox.faults.registry import (
    REGISTRY,
    STATS,
    ConcurrencyStats,
    FaultRegistry,
    credential_label,
)
from rally_sandbox.pigeon.context import current_base_url

log = logging.getLogger(__name__)

# Faults apply to what API clients call; pages for people and the admin API stay reliable.
FAULT_PATH_PREFIXES = ("/slm/", "/apps/pigeon/", "/login/oauth2/token")
# `requests` counts WSAPI requests; requests in flight (and their peak per credential) count
# the webhook API's as well, since Rally's 12 a user holds for both.
COUNTED_PATH_PREFIX = "/slm/"
IN_FLIGHT_PATH_PREFIXES = ("/slm/", "/apps/pigeon/")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class ConnectionDropped(OSError):
    """Raised to the server after the socket was shut down, so it writes nothing more."""

    def __init__(self) -> None:
        # EPIPE makes gunicorn treat it as a vanished client: logged at debug, nothing sent.
        super().__init__(errno.EPIPE, "connection dropped by sandbox fault injection")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_page(status: int, path: str) -> bytes:
    """An HTML error body in the style of the Jetty pages Rally answers with."""
    reason = _reason(status)
    return (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>\n'
        f"<title>Error {status} {reason}</title>\n</head>\n"
        f"<body><h2>HTTP ERROR {status}</h2>\n"
        f"<p>Problem accessing {path}. Reason:\n<pre>    {reason}</pre></p>"
        "<hr><i><small>Powered by Jetty://</small></i><hr/>\n\n</body>\n</html>\n"
    ).encode()


def label_for(environ: dict) -> str:
    key = environ.get("HTTP_ZSESSIONID")
    if not key and environ.get("HTTP_COOKIE"):
        try:
            morsel = SimpleCookie(environ["HTTP_COOKIE"]).get("ZSESSIONID")
        except CookieError:
            morsel = None
        key = morsel.value if morsel else None
    if key:
        return credential_label(zsessionid=key)
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "anonymous"
        user = decoded.partition(":")[0]
        # The .NET toolkit sends the API key as the password with an empty user name.
        if not user:
            return credential_label(zsessionid=decoded.partition(":")[2])
        return credential_label(basic_user=user)
    return "anonymous"


def _base_url(environ: dict) -> str:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


class _Counted:
    """Wraps a response iterable so the request stays counted while the server works on it.

    It stops counting as the last chunk is handed to the server, before it is written: once
    a client has read the answer it may send its next request at once, and counting the
    finished one until the server gets round to close() would show more requests in flight
    than the client ever had.
    """

    def __init__(self, iterable: Iterable[bytes], release: Callable[[], None]) -> None:
        self._iterable = iterable
        self._release = release
        self._released = False

    def _release_once(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    def __iter__(self):
        chunks = iter(self._iterable)
        chunk = next(chunks, None)
        for following in chunks:
            yield chunk
            chunk = following
        self._release_once()
        if chunk is not None:
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._release_once()


class FaultInjectionMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        *,
        registry: FaultRegistry = REGISTRY,
        stats: ConcurrencyStats = STATS,
        sleep: Callable[[float], None] = time.sleep,
        startup_faults: str | None = None,
    ) -> None:
        self.app = app
        self.registry = registry
        self.stats = stats
        self.sleep = sleep
        text = (
            startup_faults
            if startup_faults is not None
            else os.environ.get("RALLY_SANDBOX_FAULTS", "")
        )
        if text.strip():
            # A bad value must stop the server from starting, not be ignored silently.
            self.registry.load_json(text)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        # Webhook deliveries queued by this request carry refs to where the client reached us.
        current_base_url.set(_base_url(environ))
        if not path.startswith(FAULT_PATH_PREFIXES):
            return self.app(environ, start_response)

        release: Callable[[], None] | None = None
        if path.startswith(IN_FLIGHT_PATH_PREFIXES):
            label = label_for(environ)
            self.stats.enter(label, counted=path.startswith(COUNTED_PATH_PREFIX))
            release = lambda: self.stats.leave(label)  # noqa: E731
        try:
            result = self._serve(environ, start_response, path)
        except BaseException:
            if release:
                release()
            raise
        return _Counted(result, release) if release else result

    def _serve(self, environ: dict, start_response: StartResponse, path: str) -> Iterable[bytes]:
        decision = self.registry.decide(environ.get("REQUEST_METHOD", "GET"), path)
        if decision.latency_ms:
            self.sleep(decision.latency_ms / 1000)
        if decision.status is not None:
            body = error_page(decision.status, path)
            reason = _reason(decision.status)
            headers = [
                ("Content-Type", "text/html;charset=utf-8"),
                ("Content-Length", str(len(body))),
            ]
            if decision.retry_after is not None:
                headers.append(("Retry-After", str(decision.retry_after)))
            start_response(f"{decision.status} {reason}", headers)
            return [body]
        if decision.drop_after_commit:
            return self._drop_after_commit(environ, path)
        return self.app(environ, start_response)

    def _drop_after_commit(self, environ: dict, path: str) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is None:
            # Without the raw socket there is no honest way to drop; say so instead of faking.
            raise RuntimeError("drop_after_commit needs the sandbox served by gunicorn")

        # Run the request to the end (its transaction commits inside the view), discard the
        # response, then cut the connection so the client never learns the outcome.
        def swallow(status, headers, exc_info=None):
            return lambda data: None

        result = self.app(environ, swallow)
        try:
            for _chunk in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        log.info("Fault injection: dropped the connection after %s", path)
        with contextlib.suppress(OSError):  # the client may be gone already; the point stands
            sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionDropped()
