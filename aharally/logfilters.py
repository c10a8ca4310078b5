"""Logging filters: access-log lines never carry OAuth codes, states or tokens."""

from __future__ import annotations

import logging
import re

# Query parameters whose values are credentials, or as good as (an unspent OAuth code).
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&](?:code|state|token|access_token|refresh_token|client_secret|key)=)[^&\s\"']*",
    re.IGNORECASE,
)


def redact_query(text: str) -> str:
    return _SECRET_PARAMETER.sub(r"\g<name>********", text)


class RedactQueryStrings(logging.Filter):
    """Masks credential-like query parameters in a record (the dev server's request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


# Credentials by shape, in any log line: bearer tokens, Rally's ZSESSIONID header (API keys
# and OAuth tokens), and the secret path segment of our webhook URL.
_CREDENTIAL_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1********"),
    (re.compile(r"(?i)\b(zsessionid['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]{6,}"), r"\1********"),
    (re.compile(r"(/integrations/rally/webhook/\d+/)[^/\s\"'?]+"), r"\1********"),
    # Rally API keys: an underscore and 40-odd letters and digits.
    (re.compile(r"(?<![A-Za-z0-9])_[A-Za-z0-9]{30,}\b"), "********"),
)


def redact_credentials(text: str) -> str:
    text = redact_query(text)
    for pattern, replacement in _CREDENTIAL_SHAPES:
        text = pattern.sub(replacement, text)
    return text


# What every LogRecord has; anything else came in `extra` (django.request passes the request).
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class RedactCredentials(logging.Filter):
    """A last line of defence on every handler: credential-shaped text is masked.

    The integration log masks the integration's own secrets by value (integrations/log.py);
    this catches what other code (a library's error, a request path) might carry.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_credentials(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters (plain and JSON) print exc_text when exc_info is gone, and would
            # format the traceback afresh, unmasked, when it is not.
            record.exc_text = redact_credentials(record.exc_text)
            record.exc_info = None
        # A JSON formatter writes extras out too, objects by their repr (a request's repr
        # holds its path, and so a webhook's secret).
        for name, value in list(vars(record).items()):
            if (
                name in _STANDARD_ATTRIBUTES
                or value is None
                or isinstance(value, bool | int | float)
            ):
                continue
            setattr(
                record, name, redact_credentials(value if isinstance(value, str) else repr(value))
            )
        return True
