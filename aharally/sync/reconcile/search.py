"""Import from Rally: an owner searches the integrated project and imports chosen records.

The search runs in the cluster (DESIGN: no Rally HTTP inside a web request): `start_search`
checks the words and writes a `RallySearch`; the task `run_search` asks Rally — a FormattedID
(`(FormattedID = "F12")`) or a part of a name (`(Name contains "x")`), in the integration's
project and its children, mapped types only (features and user stories), a page at a time —
and stores what it found. For a story whose feature aharally lacks it also reads that feature
(one query for the page), so that importing needs no request: `import_chosen` makes records
from the stored fields through `imports.import_object`, as the catch-up's imports are made.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aharally.integrations.connection import RallyProblem, client_for, explain
from aharally.integrations.models import Integration
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import RallyAuthError, RallyError
from aharally.rally.objects import RallyObject
from aharally.rally.objects import formatted_id as as_formatted_id
from aharally.rally.query import where
from aharally.sync import enqueue, mapping
from aharally.sync.incoming import imports
from aharally.sync.models import JobState, Link, LinkState, RallySearch
from aharally.sync.outgoing import outbox
from aharally.sync.records import load_records
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction, RecordType

# What Import from Rally brings: a story brings its feature; a feature its place in a release.
IMPORTABLE = (RecordType.FEATURE, RecordType.REQUIREMENT)
PAGE_SIZE = 25


class SearchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_text(text: str) -> str:
    """The words to search for, or SearchError saying what is wrong with them."""
    text = (text or "").strip()
    if not text:
        raise SearchError("Enter a Rally FormattedID such as F12 or US345, or part of a name.")
    if len(text) > 100:
        raise SearchError("Search with at most 100 characters.")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise SearchError("The search contains control characters: type it again.")
    if sum(c.isalnum() for c in text) < 2:
        raise SearchError(
            f"“{text}” is neither a FormattedID (such as F12) nor part of a name: search with "
            "at least two letters or digits."
        )
    return text


def start_search(*, integration: Integration, user, text: str, page: int = 1) -> RallySearch:
    """Check the words and queue the search in the cluster; the page polls for its results."""

    text = check_text(text)
    try:
        outbox.check_can_send(integration)
    except outbox.SyncError as error:
        raise SearchError(error.message) from None
    config = effective_config(integration)
    if not any(config.mapping_for(t) for t in IMPORTABLE):
        raise SearchError(
            f"“{integration.name}” maps neither features nor requirements: there is nothing "
            "to import."
        )
    search = RallySearch.objects.create(
        integration=integration, text=text, page=max(1, page), created_by=user
    )
    enqueue.enqueue_on_commit(enqueue.SEARCH, search.pk)
    return search


# -- in the cluster ------------------------------------------------------------------------------


def run_search(search_id: int) -> dict:
    """Ask Rally and store the page found (or why nothing could be)."""
    search = RallySearch.objects.select_related("integration__template").filter(pk=search_id)
    search = search.first()
    if search is None or search.state != JobState.RUNNING:
        return {"found": 0, "reason": "no such search"}
    integration = search.integration
    state, message, found, total, more = JobState.DONE, "", [], 0, False
    try:
        config = effective_config(integration)
        client = client_for(integration, interactive=False)
        try:
            found, total, more, message = _search(client, config, integration, search)
        finally:
            client.close()
    except RallyAuthError as error:
        state, message = JobState.FAILED, explain(integration, error, doing="search Rally").message
    except (RallyProblem, RallyError) as error:
        state = JobState.FAILED
        message = f"Rally could not be searched: {getattr(error, 'message', str(error))}"
    RallySearch.objects.filter(pk=search.pk).update(
        state=state,
        message=message,
        results=found,
        total=total,
        has_more=more,
        finished_at=timezone.now(),
    )
    return {"found": len(found), "total": total}


def _search(client, config, integration, search: RallySearch):
    text = search.text
    by_id = as_formatted_id(text) is not None
    mappings = [m for m in (config.mapping_for(t) for t in IMPORTABLE) if m is not None]
    found, total, more = [], 0, False
    for record_mapping in mappings:
        query = (
            where("FormattedID", "=", text.upper()) if by_id else where("Name", "contains", text)
        )
        results = client.query(
            record_mapping.rally_type,
            query=query,
            fetch=[*imports.fetch_for(record_mapping), "Project"],
            order="FormattedID",
            page_size=PAGE_SIZE,
            **mapping.project_scope(config),
        )
        page = results.page_at((search.page - 1) * PAGE_SIZE + 1)
        matched = [
            obj
            for obj in page.results
            # Rally may match the number alone (US12 asked, F12 found): not that record.
            if not by_id or (obj.formatted_id or "").upper() == text.upper()
        ]
        found += [(record_mapping, obj) for obj in matched]
        total += len(matched) if by_id else page.total
        more = more or (not by_id and page.total > search.page * PAGE_SIZE)
    message = ""
    if by_id and not found:
        message = _not_found(client, config, text)
    elif not found:
        names = " or ".join(f"{m.rally_type_name}s" for m in mappings)
        message = f"No {names} in {config.rally_project_name or 'the project'} match “{text}”."
    features = _unknown_features(client, config, integration, found)
    entries = []
    for record_mapping, obj in found:
        parent = (
            obj.ref_of("PortfolioItem") if record_mapping.record_type == "requirement" else None
        )
        feature_oid = parent.object_id if parent is not None else None
        entries.append(
            {
                "record_type": record_mapping.record_type,
                "rally_type": record_mapping.rally_type,
                "type_name": record_mapping.rally_type_name,
                "oid": obj.object_id,
                "formatted_id": obj.formatted_id or "",
                "name": (obj.name or "")[:255],
                "fields": dict(obj.fields),
                "feature_oid": feature_oid,
                "feature": features.get(feature_oid),
            }
        )
    return entries, total, more, message


def _not_found(client, config, text: str) -> str:
    """Why a FormattedID found nothing: another type of Rally record, or none at all."""
    other = client.query(
        "Artifact",
        query=where("FormattedID", "=", text.upper()),
        fetch=["FormattedID"],
        limit=50,
        **mapping.project_scope(config),
    )
    for obj in other:
        if (obj.formatted_id or "").upper() == text.upper():
            kind = obj.type.split("/")[-1]
            return (
                f"{text.upper()} is a {kind} in Rally: Import from Rally brings features and "
                "user stories (the types this integration maps to them)."
            )
    return f"Rally has no {text.upper()} in {config.rally_project_name or 'the project'}."


def _unknown_features(client, config, integration, found) -> dict[int, dict]:
    """Rally's fields of the features of found stories that aharally lacks (one query)."""
    feature_mapping = config.mapping_for(RecordType.FEATURE)
    wanted = set()
    for record_mapping, obj in found:
        parent = obj.ref_of("PortfolioItem")
        if record_mapping.record_type == RecordType.REQUIREMENT and parent is not None:
            wanted.add(parent.object_id)
    wanted.discard(None)
    if not wanted or feature_mapping is None:
        return {}
    linked = set(
        Link.objects.filter(integration=integration, rally_oid__in=wanted).values_list(
            "rally_oid", flat=True
        )
    )
    missing = sorted(wanted - linked)
    if not missing:
        return {}
    return {
        obj.object_id: dict(obj.fields)
        for obj in client.query(
            feature_mapping.rally_type,
            query=where("ObjectID", "in", missing),
            fetch=imports.fetch_for(feature_mapping),
        )
    }


# -- the page ------------------------------------------------------------------------------------


@dataclass
class SearchRow:
    entry: dict
    linked: object | None  # the aharally record already linked to it
    feature_linked: object | None  # a story's feature, when aharally has it
    problem: str

    @property
    def importable(self) -> bool:
        return self.linked is None and not self.problem


def search_rows(search: RallySearch) -> list[SearchRow]:
    """The found records, each with the aharally record it is linked to (queries constant)."""
    entries = search.results or []
    oids = {e["oid"] for e in entries} | {e["feature_oid"] for e in entries if e["feature_oid"]}
    links = {
        link.rally_oid: link
        for link in Link.objects.filter(integration_id=search.integration_id, rally_oid__in=oids)
    }
    by_type: dict[str, list[int]] = {}
    for link in links.values():
        by_type.setdefault(link.record_type, []).append(link.record_id)
    records = {}
    for record_type, ids in by_type.items():
        for pk, record in load_records(record_type, ids).items():
            records[(record_type, pk)] = record

    def record_of(oid):
        link = links.get(oid)
        return records.get((link.record_type, link.record_id)) if link is not None else None

    rows = []
    for entry in entries:
        problem = ""
        feature = None
        if entry["record_type"] == RecordType.REQUIREMENT:
            feature = record_of(entry["feature_oid"]) if entry["feature_oid"] else None
            if not entry["feature_oid"]:
                problem = "Has no feature in Rally: a requirement can't be imported without one."
            elif feature is None and not entry["feature"]:
                problem = "Its feature could not be read from Rally."
        rows.append(
            SearchRow(
                entry=entry,
                linked=record_of(entry["oid"]),
                feature_linked=feature,
                problem=problem,
            )
        )
    return rows


@transaction.atomic
def import_chosen(*, search: RallySearch, user, oids) -> tuple[list[str], list[str]]:
    """Import the chosen records of a search; (references made, problems)."""
    integration = search.integration
    config = effective_config(integration)
    chosen = [e for e in search.results if e["oid"] in set(oids)]
    made: list[str] = []
    problems: list[str] = []
    for entry in chosen:
        problem = _import_entry(integration, config, entry, user=user, made=made)
        if problem:
            problems.append(f"{entry['formatted_id']}: {problem}")
    if made:
        record_audit(
            workspace=integration.workspace,
            actor=user,
            action=AuditAction.CONFIGURATION,
            target=integration.name,
            detail=f"Imported from Rally: {', '.join(made[:50])}",
        )
    return made, problems


def _import_entry(integration, config, entry: dict, *, user, made: list[str]) -> str:
    record_mapping = config.mapping_for(entry["record_type"])
    if record_mapping is None:
        return f"{RecordType(entry['record_type']).label}s are no longer mapped."
    if Link.objects.filter(integration=integration, rally_oid=entry["oid"]).exists():
        return "linked already."
    if entry["record_type"] == RecordType.FEATURE:
        return _import_feature(integration, config, entry["fields"], user=user, made=made)
    if not entry["feature_oid"]:
        return "has no feature in Rally."
    feature_link = _ok_link(integration, entry["feature_oid"])
    if feature_link is None:
        if not entry["feature"]:
            return "its feature could not be read from Rally."
        problem = _import_feature(integration, config, entry["feature"], user=user, made=made)
        if problem:
            return f"its feature: {problem}"
        feature_link = _ok_link(integration, entry["feature_oid"])
    outcome = imports.import_object(
        integration,
        config,
        record_mapping,
        entry["fields"],
        where={"feature_id": feature_link.record_id},
        user=user,
    )
    return _made(outcome, integration, entry["oid"], made)


def _import_feature(integration, config, fields: dict, *, user, made: list[str]) -> str:
    """A feature lands in its release when that is linked, else in the first parking lot."""
    feature_mapping = config.mapping_for(RecordType.FEATURE)
    if feature_mapping is None:
        return "features are not mapped."
    obj = RallyObject.from_json(fields)
    release, parent = obj.ref_of("Release"), obj.ref_of("Parent")
    release_link = _ok_link(integration, release.object_id, RecordType.RELEASE) if release else None
    initiative_link = (
        imports.linked_anywhere(integration, RecordType.INITIATIVE, parent.object_id)
        if parent is not None
        else None
    )
    where_to = {
        "release_id": release_link.record_id if release_link else None,
        "initiative_id": initiative_link.record_id if initiative_link else None,
    }
    outcome = imports.import_object(
        integration, config, feature_mapping, fields, where=where_to, user=user
    )
    return _made(outcome, integration, obj.object_id, made)


def _made(outcome: str, integration, oid: int, made: list[str]) -> str:
    if outcome != imports.IMPORTED:
        return f"{outcome}."
    link = Link.objects.get(integration=integration, rally_oid=oid)
    record = load_records(link.record_type, [link.record_id]).get(link.record_id)
    made.append(getattr(record, "reference", link.label))
    return ""


def _ok_link(integration, oid, record_type: str | None = None) -> Link | None:
    links = Link.objects.filter(integration=integration, rally_oid=oid, state=LinkState.OK)
    if record_type:
        links = links.filter(record_type=record_type)
    return links.first()
