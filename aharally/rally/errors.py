"""Typed errors of the Rally client, and their classification from Rally's responses.

Rally reports most failures with HTTP 200 and a non-empty ``Errors`` array inside the
envelope (``QueryResult``, ``CreateResult``, ``OperationResult``, ``BatchResult`` or the
single-object wrapper); authentication failures are HTTP 401 with a Jetty HTML page.
Every error carries a ``kind`` so that callers (the sync) can sort failures without
knowing the class hierarchy: ``auth``, ``not_found``, ``validation``, ``conflict``,
``throttled``, ``transient``, ``outcome_unknown``, ``config``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class RallyError(Exception):
    """Base of every error raised by the Rally client."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        messages: Sequence[str] = (),
        status: int | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        # Rally's own texts, verbatim, in the order Rally gave them.
        self.messages: tuple[str, ...] = tuple(messages) or (message,)
        self.status = status
        self.warnings: tuple[str, ...] = tuple(warnings)


class RallyAuthError(RallyError):
    """The credential was refused (HTTP 401, invalid key) or the OAuth grant was revoked."""

    kind = "auth"

    def __init__(self, message: str, *, revoked: bool = False, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.revoked = revoked


class RallyPermissionDenied(RallyError):
    """The credential is good but its user may not do this (webhooks need a subscription
    administrator). Not a reason to re-authorize."""

    kind = "forbidden"


class RallyNotFound(RallyError):
    """The object does not exist (any more) or the credential cannot see it."""

    kind = "not_found"


class RallyValidationError(RallyError):
    """Rally rejected the request's content; ``messages`` holds Rally's ``Errors`` verbatim."""

    kind = "validation"


class RallyQueryError(RallyValidationError):
    """Rally could not parse or run a query (``Could not parse: …``)."""


class RallyConcurrencyConflict(RallyError):
    """Another write to the same object (or a related one) got there first; safe to redo."""

    kind = "conflict"


class RallyTransientError(RallyError):
    """Rally or the network failed in a way that is expected to pass (5xx, connection errors).

    Raised for a write only when the request surely did not reach Rally (connection refused,
    503); a write that may have been applied raises ``RallyOutcomeUnknown`` instead.
    """

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        # Seconds Rally asked us to wait (``Retry-After``), when it said.
        self.retry_after = retry_after


class RallyThrottled(RallyTransientError):
    """Rally asked us to slow down (HTTP 429)."""

    kind = "throttled"


class RallyOutcomeUnknown(RallyError):
    """A create/update/batch was sent but its response was lost: it may have been applied.

    Never retried by the client. The caller must look (e.g. query for a marker it wrote)
    before sending it again, or it may create a duplicate.
    """

    kind = "outcome_unknown"


class RallyConfigError(RallyError):
    """The connection is misconfigured: TLS handshake refused, bad certificate, bad URL."""

    kind = "config"


# Rally's texts, matched loosely because wording varies between versions.
_NOT_FOUND = re.compile(
    r"cannot find object|object to delete cannot be null|could not read \w[\w/ ]* -?\d+ to"
    r"|could not read \w+ <|not found",
    re.IGNORECASE,
)
_CONFLICT = re.compile(
    r"concurrency conflict|concurrencyconflictexception|could not write changes in unit of work",
    re.IGNORECASE,
)
_AUTH = re.compile(r"not authorized to perform action|invalid key", re.IGNORECASE)
_QUERY = re.compile(r"could not parse|unknown operator|invalid query", re.IGNORECASE)


def error_from_messages(
    messages: Sequence[str], *, warnings: Sequence[str] = (), status: int | None = None
) -> RallyError:
    """The typed error for a non-empty ``Errors`` array."""
    text = "; ".join(messages)
    kwargs = {"messages": messages, "warnings": warnings, "status": status}
    if any(_CONFLICT.search(m) for m in messages):
        return RallyConcurrencyConflict(text, **kwargs)
    if any(_AUTH.search(m) for m in messages):
        return RallyAuthError(text, **kwargs)
    if any(_NOT_FOUND.search(m) for m in messages):
        return RallyNotFound(text, **kwargs)
    if any(_QUERY.search(m) for m in messages):
        return RallyQueryError(text, **kwargs)
    return RallyValidationError(text, **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_status(status: int, *, body: str = "", retry_after: str | None = None) -> RallyError:
    """The typed error for a non-200 HTTP status (Rally's body is often an HTML page)."""
    summary = _summarise_html(body)
    if status == 401:
        return RallyAuthError(f"Rally refused the credential (HTTP 401){summary}", status=status)
    if status == 403:
        return RallyAuthError(f"Rally denied access (HTTP 403){summary}", status=status)
    if status == 404:
        return RallyNotFound(f"Rally has no such resource (HTTP 404){summary}", status=status)
    if status == 429:
        seconds = parse_retry_after(retry_after)
        return RallyThrottled(
            f"Rally is throttling requests (HTTP 429){summary}",
            status=status,
            retry_after=seconds,
        )
    if status >= 500:
        return RallyTransientError(
            f"Rally is unavailable (HTTP {status}){summary}",
            status=status,
            retry_after=parse_retry_after(retry_after),
        )
    return RallyValidationError(
        f"Rally rejected the request (HTTP {status}){summary}", status=status
    )


_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _summarise_html(body: str) -> str:
    """A short hint from an error page's title, never the whole page."""
    match = _TITLE.search(body or "")
    if not match:
        return ""
    title = " ".join(match.group(1).split())[:200]
    return f": {title}" if title else ""
