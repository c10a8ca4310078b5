"""One drain run's state, shared by the threads that send its rows."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, LogLevel
from aharally.integrations.templates_service import EffectiveConfig, effective_config
from aharally.observability import logcontext
from aharally.rally.client import RallyClient
from aharally.sync.custom_values import CustomSpec, specs_for
from aharally.sync.models import Link
from aharally.sync.outgoing.lookups import Lookups
from aharally.sync.people import PeopleMap, people_map


@dataclass
class DrainRun:
    """One drain of one integration's outbox: its client, configuration and look-ups."""

    integration: Integration
    config: EffectiveConfig
    client: RallyClient
    lookups: Lookups
    paused: bool = False  # the credential was refused: stop, the rest waits
    sent: int = 0
    warned: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Configurations of other integrations on the same template (a feature's initiative).
    others: dict[int, EffectiveConfig] = field(default_factory=dict)
    # The task's id, read where the run starts: the sending threads log under it too.
    request_id: str | None = field(default_factory=logcontext.request_id.get)
    # Links this run made, by (integration, record type, record id): a requirement created
    # right after its feature finds its parent here rather than asking the database again.
    made: dict[tuple[int, str, int], Link] = field(default_factory=dict)
    # Record types whose look-ups this run has started reading (drain.py's warm-up).
    warmed: set[str] = field(default_factory=set)
    # Integrations whose first send this run has stamped (`Integration.first_sent_at`).
    stamped: set[int] = field(default_factory=set)
    # The database connections of the pool's threads, closed when the drain ends.
    connections: set = field(default_factory=set)
    # Records created without a place in Rally's rank (a bulk send's), placed when it ends.
    unplaced: list[tuple[str, int]] = field(default_factory=list)
    # Who is who (People), built the first time an Owner is sent in this run.
    _people: PeopleMap | None = None
    # Mapped custom fields' definitions, by (record type, workspace): read once a run.
    _custom: dict[tuple[str, int], dict] = field(default_factory=dict)
    # The records of a workspace with comments or files written here, read once a run
    # (outgoing/discussion.py: a created record's earlier ones follow it).
    discussion_records: dict[int, set[tuple[str, int]]] = field(default_factory=dict)

    def made_link(self, link: Link) -> None:
        with self.lock:
            self.made[(link.integration_id, link.record_type, link.record_id)] = link
            self.sent += 1

    def link_made(self, integration_id: int, record_type: str, record_id: int) -> Link | None:
        with self.lock:
            return self.made.get((integration_id, record_type, record_id))

    def to_place(self, record_type: str, record_id: int) -> None:
        with self.lock:
            self.unplaced.append((record_type, record_id))

    def first_time(self, key: str) -> bool:
        """Whether this run meets `key` for the first time (each warning once a run)."""
        with self.lock:
            if key in self.warned:
                return False
            self.warned.add(key)
            return True

    def warn_once(self, key: str, message: str, hint: str = "") -> None:
        if self.first_time(key):
            log_event(self.integration, LogLevel.WARNING, message, hint)

    def people(self) -> PeopleMap:
        with self.lock:
            if self._people is None:
                self._people = people_map(self.integration)
            return self._people

    def custom_specs(self, record_mapping, workspace_id: int) -> dict[str, CustomSpec]:
        """The mapped custom fields of `record_mapping` in a workspace (no query when none)."""
        key = (record_mapping.record_type, workspace_id)
        with self.lock:
            if key not in self._custom:
                self._custom[key] = specs_for(
                    record_mapping.field_mappings,
                    workspace_id,
                    record_type=record_mapping.record_type,
                )
            return self._custom[key]

    def config_for(self, integration: Integration) -> EffectiveConfig:

        if integration.pk == self.integration.pk:
            return self.config
        with self.lock:
            if integration.pk not in self.others:
                self.others[integration.pk] = effective_config(integration)
            return self.others[integration.pk]


class Deferred(Exception):
    """The row can't go yet (its parent is being created elsewhere): try again shortly, or
    after `seconds` when what it waits for has a time of its own (a parent's backoff)."""

    def __init__(self, seconds: float | None = None) -> None:
        super().__init__("deferred")
        self.seconds = seconds
