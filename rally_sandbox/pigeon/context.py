"""Per-request context the webhook code needs outside the request (no Django imports)."""

from __future__ import annotations

import contextvars

# The scheme, host and port clients reach the sandbox at, set per request by the WSGI
# middleware, so refs in deliveries point where the WSAPI's refs point.
current_base_url: contextvars.ContextVar[str] = contextvars.ContextVar(
    "sandbox_base_url", default="http://127.0.0.1:8001"
)
