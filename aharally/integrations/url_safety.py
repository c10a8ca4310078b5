"""The Rally URL an owner types: validated, normalised, and never pointing inside our network.

Without this an owner could make the server request internal addresses (server-side request
forgery): loopback, private, link-local (cloud metadata at 169.254.169.254) and the like are
refused unless `RALLY_ALLOW_PRIVATE_ADDRESSES` is set (the local sandbox). The host is
resolved, so a public name that points inside is refused too, and every connection to Rally
goes to the address checked for it (`connection_guard()` with `aharally.rally.pinning`), so a
name that answers differently the second time (DNS rebinding) cannot lead inside either. Every
request to Rally is sent with redirects off (the client, the OAuth token exchange), so a
redirect cannot lead inside.
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
    if any(c.isspace() for c in text):
        raise UnsafeRallyURL(
            "A URL has no spaces: enter the address you use to open Rally, e.g. "
            "https://rally1.rallydev.com."
        )
    if "://" not in text:
        # Guessing the scheme would hide what is saved; the owner adds it in one keystroke.
        raise UnsafeRallyURL(f"Add https:// at the start of the Rally URL: https://{text}.")
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


# IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible).
_EMBEDDING_V4_LAST_32 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address stands for: mapped, 6to4, Teredo, NAT64, compatible."""
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if any(address in network for network in _EMBEDDING_V4_LAST_32):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the address is, or maps to, anything but a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if any(_is_internal(inner) for inner in embedded):
            return True
        if address.is_site_local:  # fec0::/10: deprecated, but routed inside some networks
            return True
        if embedded:
            # A translation address is no better than the IPv4 one it names, and no worse.
            return False
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
    """The IP addresses a host name resolves to (in the resolver's order), or UnsafeRallyURL."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeRallyURL(
            f"Could not find the host {host}. Check the spelling of the Rally URL."
        ) from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _refuse_internal(host: str, addresses: list[str]) -> None:
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _is_internal(address):
            raise UnsafeRallyURL(
                f"{host} points to an internal address ({address}); aharally only connects "
                "to Rally servers on the public internet."
            )


def checked_address(host: str, port: int) -> str:
    """The address to connect to for host:port, resolved and checked now (no DNS rebinding).

    Every address the name has must be public; the connection goes to the first of them.
    """
    addresses = resolve_addresses(host, port)
    _refuse_internal(host, addresses)
    return addresses[0]


def connection_guard():
    """The resolver that pins each connection to a checked address, or None when private
    addresses are allowed (the local sandbox), where requests resolves as usual."""
    return None if settings.RALLY_ALLOW_PRIVATE_ADDRESSES else checked_address


def check_destination(url: str) -> None:
    """Refuse a normalised URL whose host is unknown, or is or resolves to an internal address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
    addresses = resolve_addresses(host, port)
    if settings.RALLY_ALLOW_PRIVATE_ADDRESSES:
        return
    _refuse_internal(host, addresses)


def validate_rally_url(value: str) -> str:
    """The normalised URL, after checking that it may be connected to."""
    url = normalise_rally_url(value)
    check_destination(url)
    return url
