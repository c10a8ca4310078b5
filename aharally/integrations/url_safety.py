"""The Rally URL an owner types: validated, normalised, and never pointing inside our network.

Without this an owner could make the server request internal addresses (server-side request
forgery): loopback, private, link-local (cloud metadata at 169.254.169.254) and the like are
refused unless `RALLY_ALLOW_PRIVATE_ADDRESSES` is set (the local sandbox). The host is
resolved, so a public name that points inside is refused too; every request to Rally is sent
with redirects off (the client, the OAuth token exchange), so a redirect cannot lead inside.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"https": 443, "http": 80}


class UnsafeRallyURL(ValueError):
    """The URL is malformed, not allowed, or its host cannot be found; the text says which."""


def normalise_rally_url(value: str) -> str:
    """`scheme://host[:port]` in lower case, without path, query or default port."""
    text = (value or "").strip()
    if not text:
        raise UnsafeRallyURL(
            "Enter the URL you use to open Rally, e.g. https://rally1.rallydev.com."
        )
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UnsafeRallyURL("That is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeRallyURL("The Rally URL must start with https://.")
    if scheme == "http" and not settings.RALLY_ALLOW_HTTP:
        raise UnsafeRallyURL(
            "The Rally URL must use https://. Plain http:// would send your Rally credentials "
            "unencrypted."
        )
    if parts.username or parts.password:
        raise UnsafeRallyURL("Leave the user name and password out of the URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeRallyURL("The Rally URL needs a host name, e.g. rally1.rallydev.com.")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeRallyURL("The host name of the Rally URL is not valid.") from None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit((url or "").strip().lower())
    scheme = parts.scheme
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip("."), port or DEFAULT_PORTS.get(scheme, 0)


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs name the same scheme, host and port (default ports made explicit)."""
    a, b = _origin(first), _origin(second)
    return bool(a[0] and a[1]) and a == b


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve_addresses(host: str, port: int) -> list[str]:
    """The IP addresses a host name resolves to, or UnsafeRallyURL when it resolves to none."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeRallyURL(
            f"Could not find the host {host}. Check the spelling of the Rally URL."
        ) from None
    return sorted({info[4][0] for info in infos})


def check_destination(url: str) -> None:
    """Refuse a normalised URL whose host is unknown, or is or resolves to an internal address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
    addresses = resolve_addresses(host, port)
    if settings.RALLY_ALLOW_PRIVATE_ADDRESSES:
        return
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _is_internal(address):
            raise UnsafeRallyURL(
                f"{host} points to an internal address ({address}); aharally only connects "
                "to Rally servers on the public internet."
            )


def validate_rally_url(value: str) -> str:
    """The normalised URL, after checking that it may be connected to."""
    url = normalise_rally_url(value)
    check_destination(url)
    return url
