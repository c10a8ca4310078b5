"""Which Rally a URL points into: what makes two integrations talk to the same Rally."""

from __future__ import annotations

from urllib.parse import urlsplit


def rally_site(url: str) -> str:
    """Scheme, host and port, lowercased, default ports left out: ObjectIDs are unique within
    one Rally, not across Rallies."""
    parts = urlsplit((url or "").strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
