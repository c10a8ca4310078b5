"""The catch-up: Rally objects changed since the cursor, applied to their linked records.

For each mapped type, one query (`LastUpdateDate > cursor`, in the integration's project,
children included unless *Exclude child updates*, only the fields mapped to come in, at Rally's
largest page size); each page is applied, then the cursor moves, so a lost webhook, an outage
or a killed worker loses nothing. A page is read as it is applied, a chunk at a time, while the
next one is asked for in another thread (`QueryResults.streamed_pages`): Rally prepares it
meanwhile, and one chunk of objects is in memory, not a page.

Applying follows the baselines (DESIGN rule 4), a chunk of a page a transaction
(`incoming/apply.py`): a value equal to the baseline is an echo (our own write coming back) and
changes nothing; a value changed in Rally only is applied, as made by the integration; a field
changed on both sides since the baseline is a conflict, never overwritten silently: it is
recorded on the record and in the log.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import batched
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.concurrency import stopping
from aharally.integrations.connection import RallyProblem, client_for, explain, ready_to_sync
from aharally.integrations.log import log_event, record_failure
from aharally.integrations.models import Integration, IntegrationState, LogLevel
from aharally.integrations.templates_service import EffectiveRecordMapping, effective_config
from aharally.rally.errors import RallyAuthError, RallyError, RallyQueryError
from aharally.rally.query import where
from aharally.records.rows import update_each
from aharally.sync import custom_values, history, links, mapping
from aharally.sync.incoming import apply as applying
from aharally.sync.incoming import imports
from aharally.sync.incoming.apply import apply_objects
from aharally.sync.incoming.discussion import pull_discussion
from aharally.sync.leases import Lease
from aharally.sync.models import (
    ActivityAction,
    Link,
    LinkState,
    PullCursor,
)
from aharally.sync.people import people_map
from aharally.sync.records import model_for
from aharally.workspaces.models import CustomFieldKind, RecordType

logger = logging.getLogger(__name__)

# Objects changed just before the cursor are read again: Rally's clock and ours may differ.
CURSOR_OVERLAP = timedelta(seconds=2)


def pull_updates(integration_id: int, *, lease: Lease | None = None) -> dict:
    """Read what changed in Rally for one integration and apply it; returns counts.

    `lease`: the integration's catch-up lease, when the caller took it already (and gives it
    back itself: `sync.catchup`).
    """
    integration, why_not = ready_to_sync(integration_id)
    if integration is None:
        return {"applied": 0, "reason": why_not}
    if not Link.objects.filter(integration=integration).exists():
        return {"applied": 0, "reason": "nothing linked"}
    held, lease = lease is not None, lease or Lease(PullCursor, integration_id)
    if not lease.take():
        return {"applied": 0, "reason": "another catch-up is running"}
    counts = {"read": 0, "applied": 0, "conflicts": 0}
    try:
        config = effective_config(integration)
        client = client_for(integration, interactive=False)
        try:
            _pull_types(integration, config, client, counts, lease)
            pull_discussion(
                integration, config, client, counts, since_of=lambda s: _since(s, integration)
            )
        finally:
            client.close()
        PullCursor.objects.filter(integration_id=integration_id).update(
            last_pulled_at=timezone.now()
        )
        if counts.get("imported"):
            # Imports make records in the workspace: the integration's log says so.
            log_event(
                integration,
                LogLevel.INFO,
                f"Imported {counts['imported']} new Rally record"
                f"{'s' if counts['imported'] != 1 else ''} under linked parents.",
            )
    except RallyAuthError as error:
        explain(integration, error, doing="read changes from Rally")
        counts["reason"] = "needs re-authorization"
    except (RallyProblem, RallyError) as error:
        message = getattr(error, "message", str(error))
        record_failure(integration, f"Could not read changes from Rally: {message}")
        counts["reason"] = message
    finally:
        if not held:
            lease.give_back()
    return counts


def _pull_types(integration, config, client, counts, lease: Lease) -> None:
    """Each mapped type's changes in turn. Pages are read in another thread, each asked for
    while the one before it is applied: a type's next page, then the next type's first."""
    queries = [_query_of(integration, config, m, client) for m in config.record_mappings]
    queries = [query for query in queries if query is not None]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="catch-up-read") as reader:
        ahead = partial(reader.submit, _closing_connections)
        try:
            for n, query in enumerate(queries):
                following = queries[n + 1].results if n + 1 < len(queries) else None
                try:
                    _pull_type(
                        integration,
                        config,
                        query,
                        client,
                        counts,
                        lease,
                        ahead=ahead,
                        then=None if following is None else partial(following.ask_ahead, ahead),
                    )
                except RallyQueryError as error:
                    # A type Rally can't ask by LastUpdateDate (a Release, in some
                    # subscriptions): the others still come back.
                    log_event(
                        integration,
                        LogLevel.WARNING,
                        f"Rally can't say which {query.record_mapping.rally_type_name}s changed "
                        f"({error.message}); their changes don't come back by the catch-up.",
                    )
        finally:
            for query in queries:
                query.results.let_go()  # asked ahead, not read: a stop, an error


@dataclass
class _TypeQuery:
    record_mapping: EffectiveRecordMapping
    pairs: list
    specs: dict
    results: Any  # QueryResults


def _query_of(
    integration, config, record_mapping: EffectiveRecordMapping, client
) -> _TypeQuery | None:
    """The query of one mapped type's changes since its cursor (nothing asked yet), or None
    when nothing of it comes to aharally."""
    pairs = mapping.fields_to_receive(record_mapping.field_mappings)
    # Mapped custom fields, as this workspace defines them (no query when there are none).
    specs = custom_values.specs_for(
        [
            m
            for m in record_mapping.field_mappings
            if custom_values.is_custom(m.field) and m.direction in mapping.SENT_TO_AHARALLY
        ],
        integration.workspace_id,
        record_type=record_mapping.record_type,
    )
    pairs += [(m.field, m.rally_field) for m in record_mapping.field_mappings if m.field in specs]
    if not pairs:
        return None
    rally_type = record_mapping.rally_type
    cursor_row = PullCursor.objects.get(integration=integration)
    since = _since(cursor_row.cursors.get(rally_type), integration)
    fetch = ["ObjectID", "FormattedID", "LastUpdateDate", "Project", *[r for _, r in pairs]]
    if any(f == "assignee" for f, _ in pairs) or _members(specs):
        fetch.append(mapping.OWNER_FETCH)
    if rally_type.lower().startswith("portfolioitem/"):
        fetch += list(PROGRESS_FIELDS)
    fetch += imports.PARENT_FETCH.get(record_mapping.record_type, [])
    results = client.query(
        rally_type,
        query=where("LastUpdateDate", ">", since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
        fetch=list(dict.fromkeys(fetch)),
        order="LastUpdateDate",
        # Children always: with Exclude child updates, a record moved into a child project
        # must be seen to lose its link.
        **mapping.project_scope(config),
        page_size=settings.SYNC_PULL_PAGE_SIZE,
    )
    return _TypeQuery(record_mapping, pairs, specs, results)


def _pull_type(
    integration, config, query: _TypeQuery, client, counts, lease: Lease, *, ahead, then
) -> None:
    # Each page is read as it is applied, a chunk at a time (never a whole page's objects in
    # memory), while the next page is asked for in another thread: Rally prepares it meanwhile.
    record_mapping, pairs, specs = query.record_mapping, query.pairs, query.specs
    with closing(query.results.streamed_pages(ahead=ahead, then=then)) as pages:
        for page in pages:
            # Between pages (the cursor has moved): a stopping cluster, or a lease taken
            # over after a stall, ends the pass; the next one starts from the cursor.
            if stopping.stop_requested() or not lease.keep():
                counts["stopped"] = True
                return
            counts["pages"] = counts.get("pages", 0) + 1
            newest, parents = "", _Parents()
            # Owners are said in aharally's terms through People: read once a page (three
            # queries), not once a chunk.
            people = people_map(integration) if _wants_people(pairs, specs) else None
            for chunk in batched(page.objects(), applying.CHUNK):
                _apply_page(
                    integration,
                    config,
                    record_mapping,
                    pairs,
                    client,
                    chunk,
                    counts,
                    specs,
                    parents=parents,
                    people=people,
                )
                newest = max(newest, *(obj.get("LastUpdateDate") or "" for obj in chunk))
            if newest:
                cursors = dict(PullCursor.objects.get(integration=integration).cursors)
                cursors[record_mapping.rally_type] = newest
                PullCursor.objects.filter(integration=integration).update(cursors=cursors)


@dataclass
class _Parents:
    """The features of a page's new stories, read from Rally (`found`), and which were
    asked for (`asked`, found or not)."""

    found: dict[int, Any] = field(default_factory=dict)
    asked: set[int | None] = field(default_factory=set)


def _parent_oid(obj) -> int | None:
    parent = obj.ref_of("PortfolioItem")
    return parent.object_id if parent is not None else None


def _closing_connections(call, *args):
    """`call` in the reading thread, whose database connection (Rally's shared request slots
    may use one) is closed after it."""
    try:
        return call(*args)
    finally:
        connections.close_all()


def _members(specs) -> bool:
    return any(spec.field.kind == CustomFieldKind.MEMBER for spec in specs.values())


def _wants_people(pairs, specs) -> bool:
    return any(f == "assignee" for f, _ in pairs) or _members(specs or {})


def _apply_page(
    integration,
    config,
    record_mapping,
    pairs,
    client,
    results,
    counts,
    specs=None,
    parents=None,
    people=None,
) -> None:
    """Imports a chunk of a page's new objects and applies the others to their linked
    records. `parents`: the Rally features of new stories read for the page's chunks so far
    (each asked for once a page, not once a chunk); `people`: the page's map of People (read
    here when not given)."""
    rally_type = record_mapping.rally_type
    seen = counts.setdefault("seen", {})
    seen[rally_type] = seen.get(rally_type, 0) + len(results)
    objects = {obj.object_id: obj for obj in results if obj.object_id is not None}
    # What the catch-up reads of a link (its history lines, moves, baseline, roll-ups): not
    # its rejected values, URL or dates, three of a link's six decoded columns.
    # In the links' order, without its join: one integration's links sort by these alone.
    own_links = list(
        Link.objects.filter(
            integration=integration, rally_oid__in=list(objects), state=LinkState.OK
        )
        .only(*LINK_READ)
        .order_by("record_type", "record_id")
    )
    # Which records still exist (the chunks read the ones with something to apply).
    present = set(
        model_for(record_mapping.record_type)
        .objects.filter(pk__in=[link.record_id for link in own_links])
        .order_by()
        .values_list("pk", flat=True)
    )
    # Linked already, by any integration on this Rally (or a broken link of ours): not new.
    known = links.linked_oids(integration, objects)
    new = imports.screen(
        integration,
        config,
        record_mapping.record_type,
        [obj for oid, obj in objects.items() if oid not in known],
    )
    parents = parents or _Parents()
    if new and record_mapping.record_type == RecordType.REQUIREMENT:
        unasked = [obj for obj in new if _parent_oid(obj) not in parents.asked]
        if unasked:
            parents.found.update(
                imports.unknown_features(integration, config, unasked, client=client)
            )
            parents.asked.update(_parent_oid(obj) for obj in unasked)
    for obj in new:
        outcome = imports.consider(integration, config, record_mapping, obj, parents=parents.found)
        counts["imported"] = counts.get("imported", 0) + (outcome == imports.IMPORTED)
    staying = []
    for link in own_links:
        if link.record_id not in present:
            continue
        if moved_away(integration, config, link, objects[link.rally_oid]):
            continue
        staying.append((link, objects[link.rally_oid]))
    counts["read"] += len(staying)
    if people is None and _wants_people(pairs, specs):
        people = people_map(integration)
    applied = apply_objects(staying, pairs, record_mapping, people, specs)
    counts["applied"] += applied.fields
    counts["conflicts"] += applied.conflicts
    counts.setdefault("changed", []).extend(applied.changed)
    _store_progress(staying)


LINK_READ = (
    "id",
    "integration_id",
    "record_type",
    "record_id",
    "rally_type",
    "rally_oid",
    "formatted_id",
    "baseline",
    "rally_version",
    "progress",
    "state",
)

# Rally's roll-ups of a portfolio item's stories, and the keys they are kept under.
PROGRESS_FIELDS = {
    "PercentDoneByStoryCount": "count",
    "PercentDoneByStoryPlanEstimate": "estimate",
    "LeafStoryCount": "stories",
    "AcceptedLeafStoryCount": "accepted",
}


def _store_progress(read: list[tuple[Link, Any]]) -> None:
    """Keep the roll-ups read of each link's object, where they changed (one UPDATE)."""
    changed = []
    for link, obj in read:
        progress = {
            key: obj.get(field)
            for field, key in PROGRESS_FIELDS.items()
            if obj.get(field) is not None
        }
        if progress and progress != link.progress:
            link.progress = progress
            changed.append(link)
    # Only `progress` is written: the links' baselines are the chunks' (under their lock).
    update_each(changed, ["progress"])


def moved_away(integration, config, link: Link, obj) -> bool:
    """Apply Exclude child updates to a record moved in Rally; True when it left us.

    Into the project of another integration on the same template: the link moves there.
    Into another child project, with Exclude child updates: the link is broken (logged).
    """
    project = obj.ref_of("Project")
    if project is None or project.object_id is None or not config.rally_project_oid:
        return False
    if project.object_id == config.rally_project_oid:
        return False
    source_id = integration.source.pk
    for other in (
        Integration.objects.filter(state=IntegrationState.ENABLED)
        .exclude(pk=integration.pk)
        .select_related("template")
    ):
        if other.source.pk == source_id and other.rally_project_oid == project.object_id:
            moved = not Link.objects.filter(
                integration=other, record_type=link.record_type, record_id=link.record_id
            ).exists()
            if moved:
                Link.objects.filter(pk=link.pk).update(integration=other)
                log_event(
                    integration,
                    LogLevel.INFO,
                    f"{link.label} moved in Rally to {project.name or 'another project'}: "
                    f"it now syncs through “{other.name}”.",
                )
            return True
    if not config.exclude_child_updates:
        return False  # a child project is still ours
    reason = (
        f"Moved in Rally to {project.name or 'a child project'}, outside the integration "
        "(Exclude child updates)."
    )
    Link.objects.filter(pk=link.pk).update(state=LinkState.BROKEN, state_reason=reason)
    history.note(
        link,
        ActivityAction.UNLINKED,
        f"{link.label}: {reason} The link is broken; both records are kept.",
    )
    log_event(integration, LogLevel.WARNING, f"{link.label}: {reason}")
    return True


def _since(stored: str | None, integration: Integration):
    if stored:
        parsed = parse_datetime(stored)
        if parsed is not None:
            return parsed - CURSOR_OVERLAP
    # The first catch-up reads from when the integration started sending.
    start = integration.first_sent_at or integration.source.first_sent_at or timezone.now()
    return start - timedelta(minutes=5)
