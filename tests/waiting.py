"""Waiting in tests: on a condition, never for a fixed time.

`wait_until` is the one polling loop of the test suite; use it wherever a test waits for
something to happen (a delivery, a link, a server answering, a file appearing).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests


def wait_until[T](
    condition: Callable[[], T],
    *,
    timeout: float = 120,
    interval: float = 0.25,
    what: str | Callable[[], str] = "",
) -> T:
    """Poll `condition()` until it returns something truthy and return that; fail after
    `timeout` seconds, naming `what` was awaited (a callable is asked only then, so it can say
    how things stood at the end). An exception in `condition` ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"Timed out after {timeout}s waiting for {described or condition}")


def wait_for_server(
    url: str,
    process,
    *,
    timeout: float,
    interval: float = 0.2,
    retry_on: type[Exception] | tuple[type[Exception], ...] = requests.ConnectionError,
    request_timeout: float = 5,
    **get,
) -> requests.Response:
    """The first answer (any status) of the server `process` started at `url`: a GET until it
    answers without raising `retry_on`; fail at once if the process exits first."""

    def answer() -> list[requests.Response] | None:
        assert process.poll() is None, f"the server exited ({process.returncode}) before {url}"
        try:
            # In a list: a 4xx or 5xx response is falsy.
            return [requests.get(url, timeout=request_timeout, **get)]
        except retry_on:
            return None

    (response,) = wait_until(answer, timeout=timeout, interval=interval, what=f"an answer at {url}")
    return response
