"""Fields every log line carries when known: the request id, the integration and the record.

Set in context variables (per request, per task, per row sent) and added to each record by
`ContextFilter`, so code that already logs gets them without passing them on every call.
Nothing here imports models: logging is configured before the apps are loaded.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
integration_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "integration_id", default=None
)
record: contextvars.ContextVar[str | None] = contextvars.ContextVar("record", default=None)

_FIELDS = {"request_id": request_id, "integration_id": integration_id, "record": record}
# An incoming X-Request-ID is kept only when it is short and plain (it lands in every line).
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def new_id() -> str:
    return uuid.uuid4().hex


def sane_id(value: str | None) -> str | None:
    return value if value and _SANE_ID.match(value) else None


@contextlib.contextmanager
def bound(**fields) -> Iterator[None]:
    """Within the block, log lines carry these fields (request_id, integration_id, record)."""
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


class ContextFilter(logging.Filter):
    """Adds the known fields to a record; a field the caller passed in `extra` wins."""

    def filter(self, log_record: logging.LogRecord) -> bool:
        for name, variable in _FIELDS.items():
            value = variable.get()
            if value is not None and not hasattr(log_record, name):
                setattr(log_record, name, value)
        return True


class RequestIdMiddleware:
    """One id per request: the caller's X-Request-ID when sane, else a fresh one; echoed back."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        rid = sane_id(request.headers.get("X-Request-ID")) or new_id()
        request.request_id = rid
        # Not reset on the way out: Django logs a 4xx/5xx response after the middleware has
        # returned. It is cleared when the request finishes (request_finished).
        request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


def _request_finished(sender, **kwargs) -> None:
    request_id.set(None)


def _task_started(sender, func=None, task=None, **kwargs) -> None:
    # A worker runs one task at a time in its main thread: the id holds until the next task.
    request_id.set(str((task or {}).get("id") or new_id()))


def connect_signals() -> None:
    from django.core.signals import request_finished
    from django_q.signals import pre_execute

    pre_execute.connect(_task_started, dispatch_uid="aharally.ops.task_request_id")
    request_finished.connect(_request_finished, dispatch_uid="aharally.ops.request_finished")
