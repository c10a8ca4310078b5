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
