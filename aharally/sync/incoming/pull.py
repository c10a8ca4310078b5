"""The catch-up: Rally objects changed since the cursor, applied to their linked records.

For each mapped type, one query (`LastUpdateDate > cursor`, in the integration's project,
children included unless *Exclude child updates*, only the fields mapped to come in, at Rally's
largest page size); each page is applied, then the cursor moves, so a lost webhook, an outage
or a killed worker loses nothing.

Applying follows the baselines (DESIGN rule 4): a value equal to the baseline is an echo (our
own write coming back) and changes nothing; a value changed in Rally only is applied, as made
by the integration; a field changed on both sides since the baseline is a conflict, never
overwritten silently: it is recorded on the record and in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.concurrency import stopping
from aharally.integrations.connection import RallyProblem, client_for, explain, ready_to_sync
from aharally.integrations.log import log_event, record_failure
from aharally.integrations.models import Integration, IntegrationState, LogLevel
from aharally.integrations.templates_service import EffectiveRecordMapping, effective_config
from aharally.rally.errors import RallyAuthError, RallyError, RallyQueryError
from aharally.rally.query import where
from aharally.records.services import update_record
from aharally.sync import history, links, mapping
from aharally.sync.agreement import (
    changed_in_rally,
    open_conflict,
    rally_value,
    same_value,
    to_record_value,
)
from aharally.sync.incoming import imports
from aharally.sync.leases import Lease
from aharally.sync.models import (
    ActivityAction,
    Link,
    LinkState,
    PullCursor,
)
from aharally.sync.records import SOURCE, load_records
from aharally.workspaces.models import RecordType

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
            for record_mapping in config.record_mappings:
                try:
                    _pull_type(integration, config, record_mapping, client, counts, lease)
                except RallyQueryError as error:
                    # A type Rally can't ask by LastUpdateDate (a Release, in some
                    # subscriptions): the others still come back.
                    log_event(
                        integration,
                        LogLevel.WARNING,
                        f"Rally can't say which {record_mapping.rally_type_name}s changed "
                        f"({error.message}); their changes don't come back by the catch-up.",
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


def _pull_type(
    integration, config, record_mapping: EffectiveRecordMapping, client, counts, lease: Lease
):
    pairs = mapping.fields_to_receive(record_mapping.field_mappings)
    if not pairs:
        return
    rally_type = record_mapping.rally_type
    cursor_row = PullCursor.objects.get(integration=integration)
    since = _since(cursor_row.cursors.get(rally_type), integration)
    fetch = ["ObjectID", "FormattedID", "LastUpdateDate", "Project", *[r for _, r in pairs]]
    if any(f == "assignee" for f, _ in pairs):
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
    for page in results.pages():
        # Between pages (the cursor has moved): a stopping cluster, or a lease taken over
        # after a stall, ends the pass; the next one starts from the cursor.
        if stopping.stop_requested() or not lease.keep():
            counts["stopped"] = True
            return
        counts["pages"] = counts.get("pages", 0) + 1
        seen = counts.setdefault("seen", {})
        seen[rally_type] = seen.get(rally_type, 0) + len(page.results)
        objects = {obj.object_id: obj for obj in page.results if obj.object_id is not None}
        own_links = list(
            Link.objects.filter(
                integration=integration, rally_oid__in=list(objects), state=LinkState.OK
            )
        )
        records = load_records(record_mapping.record_type, [link.record_id for link in own_links])
        # Linked already, by any integration on this Rally (or a broken link of ours): not new.
        known = links.linked_oids(integration, objects)
        new = [obj for oid, obj in objects.items() if oid not in known]
        parents = (
            imports.unknown_features(integration, config, new, client=client)
            if new and record_mapping.record_type == RecordType.REQUIREMENT
            else {}
        )
        for obj in new:
            outcome = imports.consider(integration, config, record_mapping, obj, parents=parents)
            counts["imported"] = counts.get("imported", 0) + (outcome == imports.IMPORTED)
        for link in own_links:
            record = records.get(link.record_id)
            if record is None:
                continue
            if moved_away(integration, config, link, objects[link.rally_oid]):
                continue
            counts["read"] += 1
            applied, conflicts = apply_rally_object(
                link, record, objects[link.rally_oid], pairs, record_mapping
            )
            counts["applied"] += applied
            counts["conflicts"] += conflicts
            _store_progress(link, objects[link.rally_oid])
        newest = max((obj.get("LastUpdateDate") or "" for obj in page.results), default="")
        if newest:
            cursors = dict(PullCursor.objects.get(integration=integration).cursors)
            cursors[rally_type] = newest
            PullCursor.objects.filter(integration=integration).update(cursors=cursors)


# Rally's roll-ups of a portfolio item's stories, and the keys they are kept under.
PROGRESS_FIELDS = {
    "PercentDoneByStoryCount": "count",
    "PercentDoneByStoryPlanEstimate": "estimate",
    "LeafStoryCount": "stories",
    "AcceptedLeafStoryCount": "accepted",
}


def _store_progress(link: Link, obj) -> None:
    progress = {
        key: obj.get(field) for field, key in PROGRESS_FIELDS.items() if obj.get(field) is not None
    }
    if progress and progress != link.progress:
        Link.objects.filter(pk=link.pk).update(progress=progress)
        link.progress = progress


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
                    f"{link.formatted_id} moved in Rally to {project.name or 'another project'}: "
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
        f"{link.formatted_id}: {reason} The link is broken; both records are kept.",
    )
    log_event(integration, LogLevel.WARNING, f"{link.formatted_id}: {reason}")
    return True


def _since(stored: str | None, integration: Integration):
    if stored:
        parsed = parse_datetime(stored)
        if parsed is not None:
            return parsed - CURSOR_OVERLAP
    # The first catch-up reads from when the integration started sending.
    start = integration.first_sent_at or integration.source.first_sent_at or timezone.now()
    return start - timedelta(minutes=5)


def apply_rally_object(link, record, obj, pairs, record_mapping) -> tuple[int, int]:
    """Apply one Rally object to its record: (fields applied, conflicts).

    `link` and `record` were loaded with the page, and a send may have written the object
    since the page was read: so what is to be done is decided again under the link's lock,
    with the link and record as they are now, and a read older than the version the baseline
    reflects changes nothing (its news is in a later read).
    """
    if _plan(link.baseline, record, obj, pairs, record_mapping).is_empty:
        return 0, 0  # the common case, our own writes coming back: no lock, no write
    with transaction.atomic():
        fresh = Link.objects.select_for_update().get(pk=link.pk)
        if links.is_stale(fresh, obj):
            return 0, 0
        record.refresh_from_db()
        plan = _plan(fresh.baseline, record, obj, pairs, record_mapping)
        if plan.changes:
            update_record(record, changes=plan.changes, user=None, source=SOURCE)
            history.note(
                link,
                ActivityAction.RECEIVED,
                "Took " + ", ".join(sorted(plan.changes)) + f" from {link.formatted_id}",
            )
        version = links.newest_version(fresh, obj)
        if plan.baseline != fresh.baseline or version != fresh.rally_version:
            Link.objects.filter(pk=link.pk).update(
                baseline=plan.baseline, rally_version=version, updated_at=timezone.now()
            )
        link.baseline, link.rally_version = plan.baseline, version
        for field_name, ours, theirs, agreed in plan.conflicts:
            open_conflict(link, record, field_name, ours=ours, theirs=theirs, agreed=agreed)
    for email in plan.unknown_owners:
        log_event(
            link.integration,
            LogLevel.WARNING,
            f"{link.formatted_id}'s Owner in Rally is {email}, who is not a member "
            f"of {record.workspace.name}: {record.reference}'s assignee is unchanged.",
            "Invite them to the workspace with the same email address.",
        )
    return len(plan.changes), len(plan.conflicts)


@dataclass
class _Plan:
    changes: dict[str, Any]
    baseline: dict[str, Any]
    conflicts: list[tuple[str, Any, Any, Any]]
    unknown_owners: list[str]
    moved: bool  # the baseline moves (both sides agree on a new value)

    @property
    def is_empty(self) -> bool:
        return not (self.changes or self.conflicts or self.moved or self.unknown_owners)


def _plan(agreed: dict, record, obj, pairs, record_mapping) -> _Plan:
    """What applying `obj` to `record` does, given the baseline `agreed`."""
    status_map = record_mapping.status_map
    state_for = status_map.state_for if status_map else (lambda status: None)
    baseline = dict(agreed)
    current = mapping.record_values(record, fields=[f for f, _ in pairs], state_for=state_for)
    plan = _Plan(changes={}, baseline=baseline, conflicts=[], unknown_owners=[], moved=False)
    for field_name, rally_field in pairs:
        if rally_field not in obj:
            continue
        incoming = rally_value(field_name, obj[rally_field])
        if not changed_in_rally(field_name, incoming, baseline):
            continue  # unreadable, unchanged, or our own write coming back
        ours = current.get(field_name)
        if same_value(field_name, ours, incoming, record, status_map):
            baseline[field_name] = incoming  # both sides already agree
            plan.moved = True
            continue
        if field_name in baseline and not same_value(
            field_name, ours, baseline[field_name], record, status_map
        ):
            # Changed here too since the baseline.
            plan.conflicts.append((field_name, ours, incoming, baseline[field_name]))
            continue
        value = to_record_value(field_name, incoming, status_map, workspace=record.workspace)
        if value is mapping.UNKNOWN:
            if field_name == "assignee":
                plan.unknown_owners.append(incoming)
            continue
        plan.changes[field_name] = value
        baseline[field_name] = incoming
    return plan
