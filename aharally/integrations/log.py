"""The integration log: what happened to an integration, and what to do about it.

Every caller (the wizard, the sync, the settings pages) writes through `log_event`, which
strips secrets before anything is stored or handed to Python's logging: the integration's
own tokens, API key and private key (and its template's), plus anything that merely looks
like a credential (PEM private keys, bearer tokens, ZSESSIONID headers, token parameters).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from aharally.integrations.models import SECRET_FIELDS, Integration, IntegrationLogEntry, LogLevel
from aharally.integrations.secrets import Secret, SecretUnreadable
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction

logger = logging.getLogger("aharally.integrations")

MASK = "********"
MAX_MESSAGE_LENGTH = 2000
MAX_HINT_LENGTH = 1000
# Shorter values are not treated as secrets: masking "ab" everywhere would mangle messages.
MIN_SECRET_LENGTH = 6

_SECRET_FIELDS = SECRET_FIELDS

_PYTHON_LEVELS = {
    LogLevel.INFO: logging.INFO,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}

# Shapes of credentials, masked even when we do not know the value.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "[private key removed]",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    (re.compile(r"(?i)\b(zsessionid)(\s*[:=]\s*)['\"]?[^\s'\",;&]{6,}"), r"\1\2" + MASK),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|api_?key|password|passphrase)"
            r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]{4,}"
        ),
        r"\1\2" + MASK,
    ),
    # An OAuth authorization code in a query string.
    (re.compile(r"(?<![A-Za-z0-9_])(code=)[^\s&'\"]{4,}"), r"\1" + MASK),
    # Rally API keys: an underscore and 40-odd letters and digits.
    (re.compile(r"(?<![A-Za-z0-9])_[A-Za-z0-9]{30,}\b"), MASK),
)


class LogLevelError(ValueError):
    """An unknown log level was given."""


def secrets_of(integration: Integration | None) -> list[str]:
    """The revealed secret values an integration (and its template) holds, longest first."""
    values: set[str] = set()
    # The installation's OAuth client secret is never something to show either.
    client_secret = getattr(settings, "RALLY_OAUTH_CLIENT_SECRET", "") or ""
    if len(client_secret) >= MIN_SECRET_LENGTH:
        values.add(client_secret)
    seen: set[int] = set()
    current = integration
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for name in _SECRET_FIELDS:
            try:
                value = getattr(current, name, "")
            except SecretUnreadable:
                continue
            text = value.reveal() if isinstance(value, Secret) else str(value or "")
            if len(text) >= MIN_SECRET_LENGTH:
                values.add(text)
                # A PEM key may be quoted line by line, e.g. in a parser's error message.
                values.update(
                    line.strip()
                    for line in text.splitlines()
                    if len(line.strip()) >= 16 and not line.startswith("-----")
                )
        current = current.template if current.template_id else None
    return sorted(values, key=len, reverse=True)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secret values and anything shaped like a credential masked."""
    result = str(text)
    for value in secrets:
        if value and len(value) >= MIN_SECRET_LENGTH:
            result = result.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        result = pattern.sub(replacement, result)
    return result


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def log_event(
    integration: Integration, level: str, message: str, hint: str = ""
) -> IntegrationLogEntry:
    """Store one log line for `integration` (secrets masked) and echo it to Python's logging.

    `level` is one of LogLevel ("info", "warning", "error"); `hint` says what to do.
    """
    if level not in LogLevel.values:
        raise LogLevelError(f"Unknown log level {level!r}; use info, warning or error.")
    known = secrets_of(integration)
    clean_message = _clip(redact(message, secrets=known).strip(), MAX_MESSAGE_LENGTH)
    clean_hint = _clip(redact(hint or "", secrets=known).strip(), MAX_HINT_LENGTH)
    if not clean_message:
        raise ValueError("A log line needs a message.")
    entry = IntegrationLogEntry.objects.create(
        integration=integration, level=level, message=clean_message, hint=clean_hint
    )
    logger.log(
        _PYTHON_LEVELS[LogLevel(level)],
        "Integration %s: %s",
        integration.pk,
        clean_message,
        extra={"integration_id": integration.pk},
    )
    return entry


def log_info(integration: Integration, message: str, hint: str = "") -> IntegrationLogEntry:
    return log_event(integration, LogLevel.INFO, message, hint)


def record_failure(integration: Integration, message: str, hint: str = "") -> IntegrationLogEntry:
    """Log an error and remember it as the integration's last error (the report shows it)."""
    entry = log_event(integration, LogLevel.ERROR, message, hint)
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(
        last_error=entry.message, last_error_at=now
    )
    integration.last_error, integration.last_error_at = entry.message, now
    return entry


def record_success(integration: Integration) -> None:
    """Remember that a call to Rally worked; an integration is failing only while the last
    error is newer than the last success."""
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(last_success_at=now)
    integration.last_success_at = now


def failing_q() -> Q:
    """Integrations whose last error is newer than their last success."""
    return Q(last_error_at__isnull=False) & (
        Q(last_success_at__isnull=True) | Q(last_error_at__gt=F("last_success_at"))
    )


def audit_integration(integration: Integration, *, by, what: str, action: str = "") -> None:
    """An owner's change to an integration, in the workspace's audit log (Settings → Audit
    log). A change to a template is filed as a template edit unless `action` says otherwise."""
    record_audit(
        workspace=integration.workspace,
        actor=by,
        action=action
        or (AuditAction.TEMPLATE if integration.is_template else AuditAction.CONFIGURATION),
        target=f"Integration “{integration.name}”",
        detail=what,
    )
