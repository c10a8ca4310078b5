"""Connect to the address that was checked: connection pools that resolve through a guard.

A destination check that resolves a name and then lets requests resolve it again can be
beaten by DNS rebinding (a public answer for the check, an internal one for the connection).
`pinned_pool_classes` (the Rally client's transport) and `PinnedAdapter` (requests, for the
wizard's checks and OAuth) ask ``resolve(host, port)`` for the one address to connect to, at
connection time, and open the socket to exactly that address; TLS still sends the name as
SNI and verifies the certificate against the name, and the Host header is the name.
"""

from __future__ import annotations

from collections.abc import Callable

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

Resolver = Callable[[str, int], str]


class RefusedDestination(NewConnectionError):
    """The guard refused the address a name resolved to; nothing was sent."""


def _pinned(base: type[HTTPConnection], resolve: Resolver) -> type[HTTPConnection]:
    class Pinned(base):  # type: ignore[misc, valid-type]
        def _new_conn(self):
            name = self._dns_host
            try:
                address = resolve(name.strip("[]"), self.port)
            except Exception as error:  # the guard's refusal, in its own words
                raise RefusedDestination(self, str(error)) from None
            # Only the socket goes to the address; `host` (SNI, certificate, Host) stays the name.
            self._dns_host = address
            try:
                return super()._new_conn()
            finally:
                self._dns_host = name

    Pinned.__name__ = f"Pinned{base.__name__}"
    return Pinned


def pinned_pool_classes(resolve: Resolver) -> dict[str, type]:
    """urllib3 pool classes, by scheme, whose connections go to the address `resolve` returns
    (a PoolManager's `pool_classes_by_scheme`)."""
    http = type(
        "PinnedHTTPConnectionPool",
        (HTTPConnectionPool,),
        {"ConnectionCls": _pinned(HTTPConnection, resolve)},
    )
    https = type(
        "PinnedHTTPSConnectionPool",
        (HTTPSConnectionPool,),
        {"ConnectionCls": _pinned(HTTPSConnection, resolve)},
    )
    return {"http": http, "https": https}


class PinnedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections go to the address ``resolve`` returns."""

    def __init__(self, resolve: Resolver, **kwargs) -> None:
        self.resolve = resolve
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = pinned_pool_classes(self.resolve)

    def __getstate__(self):
        state = super().__getstate__()
        state["resolve"] = self.resolve
        return state


def mount_pinned(session, resolve: Resolver | None, **kwargs):
    """Mount a PinnedAdapter for http and https on the session (nothing when resolve is None)."""
    if resolve is not None:
        adapter = PinnedAdapter(resolve, **kwargs)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session
