"""Injected faults and per-credential concurrency counts, held in the server process.

Plain Python with no Django imports: the WSGI middleware consults it on every API request, so it
must be cheap, and tests can use it without a settings module. The sandbox serves from a single
process (many threads), which is what makes process memory the right place for this state.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "error_rate", "latency", "drop_after_commit")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_LATENCY_MS = 120_000


class FaultError(ValueError):
    """A fault definition that cannot be used; the message says what to fix."""


@dataclass
class Fault:
    id: int
    kind: str
    remaining: int | None  # None: until cleared
    method: str | None = None
    path_contains: str | None = None
    status: int | None = None
    retry_after: int | None = None
    fraction: float | None = None
    ms: int | None = None
    seen: int = 0  # matching requests considered (drives error_rate's spacing)
    hits: int = 0  # requests the fault was applied to

    def matches(self, method: str, path: str) -> bool:
        if self.method and method.upper() != self.method:
            return False
        return not (self.path_contains and self.path_contains.lower() not in path.lower())

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "count": self.remaining}
        match = {}
        if self.method:
            match["method"] = self.method
        if self.path_contains:
            match["path_contains"] = self.path_contains
        data["match"] = match
        for name in ("status", "retry_after", "fraction", "ms"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        data["hits"] = self.hits
        return data


def _int(data: dict, name: str, *, low: int, high: int, required: bool) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise FaultError(f"'{name}' is required for a {data.get('kind')} fault.")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultError(f"'{name}' must be a whole number from {low} to {high}.")
    return value


def parse_fault(data: Any, *, fault_id: int) -> Fault:
    """Build a Fault from its JSON form, rejecting anything unknown or out of range."""
    if not isinstance(data, dict):
        raise FaultError("A fault is a JSON object.")
    allowed = {"kind", "count", "match", "status", "retry_after", "fraction", "ms"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FaultError(f"Unknown fault fields: {', '.join(unknown)}.")
    kind = data.get("kind")
    if kind not in KINDS:
        raise FaultError(f"'kind' must be one of {', '.join(KINDS)}.")

    count = _int(data, "count", low=1, high=1_000_000, required=False)
    if count is None and kind in ("status", "drop_after_commit") and "count" not in data:
        count = 1  # a one-off is what a test wants unless it says "null" for "until cleared"

    match = data.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"method", "path_contains"}:
        raise FaultError("'match' may hold only 'method' and 'path_contains'.")
    method = match.get("method")
    if method is not None:
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise FaultError(f"'match.method' must be one of {', '.join(METHODS)}.")
        method = method.upper()
    path_contains = match.get("path_contains")
    if path_contains is not None and (not isinstance(path_contains, str) or not path_contains):
        raise FaultError("'match.path_contains' must be a non-empty string.")

    fault = Fault(
        id=fault_id, kind=kind, remaining=count, method=method, path_contains=path_contains
    )
    if kind == "status":
        fault.status = _int(data, "status", low=400, high=599, required=True)
        fault.retry_after = _int(data, "retry_after", low=0, high=86_400, required=False)
    elif kind == "error_rate":
        fraction = data.get("fraction")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise FaultError("'fraction' (0 to 1) is required for an error_rate fault.")
        if not 0 < fraction <= 1:
            raise FaultError("'fraction' must be greater than 0 and at most 1.")
        fault.fraction = float(fraction)
        fault.status = _int(data, "status", low=500, high=599, required=False) or 500
        fault.retry_after = _int(data, "retry_after", low=0, high=86_400, required=False)
    elif kind == "latency":
        fault.ms = _int(data, "ms", low=1, high=MAX_LATENCY_MS, required=True)
    for name in ("status", "retry_after", "fraction", "ms"):
        if name in data and getattr(fault, name) is None:
            raise FaultError(f"'{name}' does not apply to a {kind} fault.")
    return fault


@dataclass
class Decision:
    """What to do to one request: sleep first, then at most one of the other effects."""

    latency_ms: int = 0
    status: int | None = None
    retry_after: int | None = None
    drop_after_commit: bool = False


class FaultRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, data: Any) -> Fault:
        with self._lock:
            fault = parse_fault(data, fault_id=next(self._ids))
            self._faults.append(fault)
            return fault

    def add_many(self, items: Any) -> list[Fault]:
        """Add a JSON list of faults, all or none."""
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise FaultError("Send a fault object or a list of them.")
        with self._lock:
            faults = [parse_fault(item, fault_id=next(self._ids)) for item in items]
            self._faults.extend(faults)
            return faults

    def load_json(self, text: str) -> list[Fault]:
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise FaultError(f"Faults are not valid JSON: {exc}") from None
        return self.add_many(items)

    def clear(self) -> int:
        with self._lock:
            removed = len(self._faults)
            self._faults.clear()
            return removed

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def decide(self, method: str, path: str) -> Decision:
        """Consume the faults that apply to this request and say what they do."""
        decision = Decision()
        with self._lock:
            if not self._faults:
                return decision
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.kind == "latency":
                    decision.latency_ms += fault.ms or 0
                    self._consume(fault)
                    continue
                if decision.status is not None or decision.drop_after_commit:
                    continue  # one failure per request; later faults wait for the next one
                if fault.kind == "error_rate":
                    # Spread failures evenly (request n fails when floor(n*f) steps up), so a
                    # fraction is exact and reproducible rather than random.
                    fraction = fault.fraction or 0
                    before = int(fault.seen * fraction)
                    fault.seen += 1
                    if int(fault.seen * fraction) == before:
                        continue
                    decision.status, decision.retry_after = fault.status, fault.retry_after
                elif fault.kind == "status":
                    decision.status, decision.retry_after = fault.status, fault.retry_after
                else:
                    decision.drop_after_commit = True
                self._consume(fault)
        return decision

    def _consume(self, fault: Fault) -> None:
        fault.hits += 1
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)


def credential_label(*, zsessionid: str | None = None, basic_user: str | None = None) -> str:
    """A stable name for a credential in statistics that does not reveal the secret."""
    if zsessionid:
        return "zsessionid:" + hashlib.sha256(zsessionid.encode()).hexdigest()[:12]
    if basic_user is not None:
        return f"basic:{basic_user}"
    return "anonymous"


@dataclass
class ConcurrencyStats:
    """Requests in flight per credential: the peak, and the average over the time any was.

    The average is the integral of requests in flight over time divided by the time at least
    one was in flight (since the last reset): a client that keeps 12 requests out all the time
    averages 12, one that leaves gaps between them less, whatever the run's length.
    """

    clock: Any = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _current: dict[str, int] = field(default_factory=dict)
    _max: dict[str, int] = field(default_factory=dict)
    _requests: int = 0
    # Per label: request-seconds in flight, seconds with any in flight, and when that last
    # changed (the integral moves on at every enter and leave).
    _area: dict[str, float] = field(default_factory=dict)
    _busy: dict[str, float] = field(default_factory=dict)
    _changed: dict[str, float] = field(default_factory=dict)

    def _advance(self, label: str) -> None:
        now = self.clock()
        current = self._current.get(label, 0)
        if current:
            elapsed = now - self._changed.get(label, now)
            self._area[label] = self._area.get(label, 0.0) + current * elapsed
            self._busy[label] = self._busy.get(label, 0.0) + elapsed
        self._changed[label] = now

    def enter(self, label: str, *, counted: bool = True) -> None:
        with self._lock:
            self._advance(label)
            now = self._current.get(label, 0) + 1
            self._current[label] = now
            self._requests += counted
            if now > self._max.get(label, 0):
                self._max[label] = now

    def leave(self, label: str) -> None:
        with self._lock:
            self._advance(label)
            now = self._current.get(label, 0) - 1
            if now > 0:
                self._current[label] = now
            else:
                self._current.pop(label, None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            for label in list(self._current):
                self._advance(label)  # requests still out count up to now
            return {
                "max_concurrent": dict(self._max),
                "avg_in_flight": {
                    label: round(self._area.get(label, 0.0) / busy, 3)
                    for label, busy in self._busy.items()
                    if busy > 0
                },
                "busy_seconds": {label: round(busy, 3) for label, busy in self._busy.items()},
                "in_flight": dict(self._current),
                "requests": self._requests,
            }

    def reset(self) -> None:
        # Requests in flight stay counted as in flight, so leave() keeps balancing.
        with self._lock:
            self._max = {label: n for label, n in self._current.items() if n}
            self._requests = 0
            self._area, self._busy = {}, {}
            now = self.clock()
            self._changed = {label: now for label in self._current}


REGISTRY = FaultRegistry()
STATS = ConcurrencyStats()
