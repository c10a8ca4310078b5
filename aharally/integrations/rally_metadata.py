"""Rally metadata kept across drains: a type's attributes, a portfolio item's states, people.

Kept in Django's cache (the database's by default, Redis with REDIS_URL), which every process
shares, so an isolated Send asks Rally for nothing but its create. A key names the Rally site
and workspace, a generation and what it holds; attributes and states also name a fingerprint of
the integration's mappings. So they are read from Rally again:
- when older than SYNC_RALLY_METADATA_SECONDS;
- when the integration's mappings change (the wizard's, or its template's: a new fingerprint);
- when the wizard reads Rally's states again (`drop`);
- once when Rally refuses what was built from them (the drain calls `drop` and retries once).
Caveat: a person Rally lacks is not kept (asked again each drain), so one invited to Rally
becomes the owner at the next send.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

_PREFIX = "rally-meta"


def _scope(site: str, workspace_oid: int | None) -> str:
    return f"{_PREFIX}:{site}:{workspace_oid or 0}"


def fingerprint(config) -> str:
    """What of an integration's configuration its cached metadata depends on."""
    parts = []
    for record_mapping in config.record_mappings:
        status_map = record_mapping.status_map
        fields = record_mapping.field_mappings
        parts.append(
            [
                record_mapping.record_type,
                record_mapping.rally_type,
                sorted((m.field, m.rally_field, m.direction) for m in fields),
                None
                if status_map is None
                else [status_map.rally_field, status_map.rally_states, status_map.plan.outgoing],
            ]
        )
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class MetadataCache:
    """One drain's view of the shared metadata of its integration's Rally workspace."""

    def __init__(self, *, site: str, workspace_oid: int | None, config_fingerprint: str) -> None:
        self._scope = _scope(site, workspace_oid)
        self._fingerprint = config_fingerprint
        self._generation = cache.get(f"{self._scope}:generation") or "0"

    @classmethod
    def of(cls, integration, config) -> MetadataCache:
        return cls(
            site=integration.rally_site,
            workspace_oid=config.rally_workspace_oid,
            config_fingerprint=fingerprint(config),
        )

    def _key(self, kind: str, name: str) -> str:
        mapped = f":{self._fingerprint}" if kind in {"attributes", "states"} else ""
        return f"{self._scope}:{self._generation}{mapped}:{kind}:{name}"

    def get(self, kind: str, name: str) -> Any:
        """The value kept, or None."""
        return cache.get(self._key(kind, name))

    def put(self, kind: str, name: str, value: Any) -> None:
        cache.set(self._key(kind, name), value, timeout=settings.SYNC_RALLY_METADATA_SECONDS)

    def drop(self) -> None:
        """Forget everything kept for this Rally workspace, for every integration on it."""
        self._generation = _new_generation(self._scope)


def _new_generation(scope: str) -> str:
    generation = uuid.uuid4().hex[:12]
    cache.set(f"{scope}:generation", generation, timeout=None)
    return generation


def drop(integration) -> None:
    """Forget the metadata kept for the integration's Rally workspace (read it again)."""
    source = getattr(integration, "source", integration)
    _new_generation(_scope(integration.rally_site, source.rally_workspace_oid))
