"""Sending one create: the record read, what Rally requires checked, its parents first, the
mark written before the request, the request, then the link and what follows it.

A create costs exactly one request: the `fetch` of the create asks for what the link needs
(ObjectID, FormattedID), and the baseline is what was sent. A create whose answer was lost is
looked for in Rally before it is sent again (`find_lost_create`), so it is never made twice.
`Create` holds the parts apart, so that the drain can run the request in a pool thread and the
rest on its own (`push.begin_rows`); `push_create` runs them one after another. `send_row` is
how a parent not yet in Rally is sent first (`push.send_row`; passed in, as for updates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.rally.errors import RallyError, RallyNotFound, RallyValidationError
from aharally.records.rows import insert_all
from aharally.sync import history, links, mapping
from aharally.sync.models import (
    ActivityAction,
    ErrorKind,
    Link,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.cascade import follow_feature, follow_features
from aharally.sync.outgoing.discussion import queue_existing
from aharally.sync.outgoing.parents import placeholder_refs, plan_parents_of, resolve_parents
from aharally.sync.outgoing.payload import find_lost_create, lost_parent, payload_for_create
from aharally.sync.outgoing.ranking import rank_parameter
from aharally.sync.outgoing.run import DrainRun
from aharally.sync.outgoing.statements import update_each, update_where
from aharally.sync.records import load_record, load_sent
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)


def push_create(row: OutboxItem, run: DrainRun, *, integration: Integration, send_row) -> None:
    create = prepare_create(row, run, integration=integration, send_row=send_row)
    if create is None:
        return
    try:
        created = create.request()
    except (RallyValidationError, RallyNotFound) as refused:
        created = create.request_again(refused)
        if created is None:
            return
    create.finish(created)


class SendWhole(Exception):
    """`prepare_create` on the drain's own thread met work that waits on Rally (a parent to
    create first, a look-up to read): the row goes to a pool thread whole instead."""


@dataclass
class Create:
    """A create made ready (the record read, its payload built, the mark written before the
    request), its request, and what follows the answer. The parts may run on different
    threads: the drain prepares and finishes a bulk send's creates on its own thread and one
    database connection, and only the request waits in a pool thread (`drain.py`)."""

    row: OutboxItem
    run: DrainRun
    integration: Integration
    record: object
    record_mapping: object
    fields: Callable[[], tuple]
    values: dict
    payload: dict
    parents: dict
    stamp: int
    rank: tuple[str, str] | None
    placed_later: bool
    broken_here: bool
    # What the row is marked with before the request (`write_marks`): where, and the values.
    mark: tuple[dict, dict]

    def __call__(self):
        return self.request()  # what a pool thread does for it (`begin_rows`)

    def request(self):
        """The create itself, one request; any thread."""
        return self.run.client.create(
            self.record_mapping.rally_type,
            self.payload,
            fetch=["ObjectID", "FormattedID"],
            rank=self.rank,
        )

    def request_again(self, refused: RallyError):
        """Refused, maybe for a state or person kept from an earlier drain that Rally no
        longer has ("Cannot find object to read"): read them again and try once more
        (nothing was created). None when the row failed here; raises `refused` when trying
        again cannot help."""
        row, run = self.row, self.run
        if not run.lookups.refresh(self.stamp) and self.rank is None:
            raise refused
        self.rank = None  # the sibling it was ranked beside may be what Rally no longer has
        self.values, self.payload, missing = self.fields()
        if missing:
            attempts.fail(row, kind=ErrorKind.REQUIRED, message=missing)
            return None
        row.sent_values = {**self.values, "_parents": row.sent_values["_parents"]}
        OutboxItem.objects.filter(pk=row.pk, claim_token=row.claim_token).update(
            sent_values=row.sent_values
        )
        return self.request()

    def finish(self, created) -> None:
        """The link and what follows it, written once Rally answered."""
        row, record = self.row, self.record
        link = _store_link(
            row, self.run, record, self.record_mapping, created, self.values, self.integration,
            replace_broken=self.broken_here, parents=self.parents,
        )  # fmt: skip
        if isinstance(link, Link):
            self.linked()

    def linked(self) -> None:
        """Its new object is linked: a bulk send's takes its place in Rally's rank when the
        drain ends (`ranking.place_created`)."""
        if self.placed_later and "rank" in self.values:
            self.run.to_place(self.row.record_type, self.record.pk)


def finish_together(answered: list[tuple[Create, object]]) -> list[tuple[Create, object]]:
    """Creates Rally answered (each with its answer), their links and what follows them
    written in one transaction: one statement for the links, one for the rows, one for the
    history, one for the features' requirements, one commit (rather than six statements an
    object). Returns those to finish one by one (`Create.finish`): a record whose broken link
    gives way, and all of them when they can't be written as one (a link taken meanwhile:
    each then meets it alone, `_linked_meanwhile`, and nothing of the others was kept)."""
    alone = [(create, created) for create, created in answered if create.broken_here]
    together = [(create, created) for create, created in answered if not create.broken_here]
    if len(together) < 2:
        return answered
    run = together[0][0].run
    try:
        with transaction.atomic():
            made = _store_links(run, together)
    except Exception:
        # Rolled back whole, rows unchanged: each is written on its own, where every
        # outcome (a link taken meanwhile, an error) has its answer.
        logger.info("%s answered creates written one by one", len(together), exc_info=True)
        return answered
    for (create, _created), link in zip(together, made, strict=True):
        run.made_link(link)
        create.linked()
    return alone


def _store_links(run: DrainRun, together: list[tuple[Create, object]]) -> list[Link]:
    """`_store_link` for creates answered together, in the caller's transaction."""
    made = insert_all(
        [
            links.new_link(
                integration=create.integration,
                record_type=create.row.record_type,
                record_id=create.record.pk,
                rally_type=create.record_mapping.rally_type,
                rally_oid=created.object_id,
                formatted_id=created.formatted_id or "",
                baseline=_baseline(create.values, create.parents),
                rally_version=links.version_of(created),
                linked_by_id=create.row.created_by_id,
                created_by_send_at=create.row.first_attempt_at,
            )
            for create, created in together
        ]
    )
    attempts.finish_each([(create.row, create.values) for create, _created in together])
    history.note_each(
        (
            create.row,
            ActivityAction.CREATED,
            f"{link.label} in Rally",
            create.row.decided_by_id or create.row.created_by_id,
        )
        for (create, _created), link in zip(together, made, strict=True)
    )
    for integration in {
        create.integration.pk: create.integration for create, _ in together
    }.values():
        _first_sent(run, integration)
    features: dict[int, list] = {}
    for (create, _created), link in zip(together, made, strict=True):
        queue_existing(record=create.record, link=link, integration=create.integration, run=run)
        if create.row.cascade and create.row.record_type == RecordType.FEATURE:
            features.setdefault(create.integration.pk, []).append(create)
    for creates in features.values():
        follow_features(
            run, creates[0].integration, [(create.row, create.record.pk) for create in creates]
        )
    return made


def _baseline(values: dict, parents: dict | None) -> dict:
    """What Rally's object holds once created: the values sent, and the refs of the parents it
    was given ("_Parent"…), so a later update sends a parent only when it changed."""
    return {**values, **{f"_{attribute}": ref.path for attribute, ref in (parents or {}).items()}}


def read_records(rows: list[OutboxItem], integrations: dict[int, Integration]) -> dict:
    """The records of creates begun together, each with whether it is linked into this Rally
    already (any integration): one query for each integration and record type. By (integration
    id, record type), then record id (`prepare_create`'s `records`)."""
    ids: dict[tuple[int, str], list[int]] = {}
    for row in rows:
        ids.setdefault((row.integration_id, row.record_type), []).append(row.record_id)
    return {
        (integration_id, record_type): load_sent(
            record_type,
            record_ids,
            **links.checks_of_record(integrations[integration_id], record_type),
        )
        for (integration_id, record_type), record_ids in ids.items()
    }


def prepare_create(
    row: OutboxItem,
    run: DrainRun,
    *,
    integration: Integration,
    send_row,
    whole: bool = True,
    records: dict | None = None,
) -> Create | None:
    """Everything a create does before its request; None when the row's outcome is written
    already (linked, adopted, refused here). `records`, read with others' (`read_records`),
    hold the record; None, it is read here.

    Not `whole` (begun on the drain's own thread, a few together), raises `SendWhole` before
    writing anything when a parent must be created first, and leaves the mark written before
    the request to the caller (`Create.mark`, written together with others' by
    `write_marks`)."""
    if records is None:
        # Whether the record is linked into this Rally already (any integration) is read
        # with the record itself, right before the create: one query, not two.
        records = read_records([row], {row.integration_id: integration})
    record = records[row.integration_id, row.record_type].get(row.record_id)
    if record is None:
        attempts.fail(row, kind=ErrorKind.CONFIG, message="The record was deleted in aharally.")
        return None
    broken_here = record.broken_here
    existing = None
    if record.linked_on_site:
        existing = links.link_of_record(links.site_of(integration), row.record_type, record.pk)
    if existing is not None:
        # Linked already (maybe through another integration on this Rally): one Rally object
        # per record, so nothing is created.
        attempts.finish(row, sent_values={})
        if existing.integration_id == integration.pk:
            _after_create(row, run, record=record, link=existing, integration=integration)
        else:
            history.note(
                row,
                ActivityAction.SKIPPED,
                f"Not sent: linked to {existing.label} through "
                f"“{existing.integration.name}” already.",
            )
        return None
    config = run.config_for(integration)
    record_mapping = config.mapping_for(row.record_type)
    if record_mapping is None:
        attempts.fail(
            row,
            kind=ErrorKind.CONFIG,
            message=f"{RecordType(row.record_type).label}s are no longer mapped to Rally.",
        )
        return None
    # What Rally requires is checked first, with refs standing for the parents, so a record
    # Rally would refuse creates no parent either (the preview checks the same way).
    planned = plan_parents_of(record, row.record_type, run, integration=integration)
    if not whole and any(one.where is not None and one.link is None for one in planned):
        raise SendWhole
    parents = placeholder_refs(planned, config)

    def fields():
        return payload_for_create(record, record_mapping, run, config=config, parents=parents)

    stamp = run.lookups.stamp()
    values, payload, missing = fields()
    if missing and run.lookups.refresh(stamp):
        # Kept from an earlier drain: Rally may have dropped that requirement since.
        stamp = run.lookups.stamp()
        values, payload, missing = fields()
    if missing:
        attempts.fail(row, kind=ErrorKind.REQUIRED, message=missing)
        return None
    parents = resolve_parents(
        record, row, run, integration=integration, send_row=send_row, planned=planned
    )
    payload.update(parents)
    if row.look_before_send:
        found = find_lost_create(row, run, record_mapping=record_mapping, integration=integration)
        if found is not None:
            # Rally holds what the lost attempt sent; a change made since goes out after.
            sent = {k: v for k, v in row.sent_values.items() if not k.startswith("_")} or values
            _store_link(
                row,
                run,
                record,
                record_mapping,
                found,
                sent,
                integration,
                adopted=values,
                replace_broken=broken_here,
                reparent=lost_parent(found, row.sent_values.get("_parents", {})),
            )
            return None
    # Written before the request: if the answer (or this worker) is lost, the next attempt
    # looks in Rally first.
    now = timezone.now()
    row.first_attempt_at = row.first_attempt_at or now
    row.attempts += 1
    row.sent_values = {**values, "_parents": {k: v.path for k, v in parents.items()}}
    mark = (
        {"id": row.pk, "claim_token": row.claim_token},
        {
            "first_attempt_at": row.first_attempt_at,
            "attempts": row.attempts,
            "look_before_send": True,
            "sent_values": row.sent_values,
        },
    )
    if whole:
        update_where(OutboxItem, mark[0], **mark[1])
    # Its place among the siblings already in Rally. A bulk send's rows, and a feature's
    # requirements, go out a dozen at a time: their siblings may still be on the way, so the
    # drain places them once they are all in (`ranking.place_created`).
    rank = None
    placed_later = row.job_id is not None or row.from_parent
    if "rank" in values and not placed_later:
        rank = rank_parameter(record, row.record_type, integration.pk)
    return Create(
        row=row, run=run, integration=integration, record=record,
        record_mapping=record_mapping, fields=fields, values=values, payload=payload,
        parents=parents, stamp=stamp, rank=rank, placed_later=placed_later,
        broken_here=broken_here, mark=mark,
    )  # fmt: skip


def write_marks(creates: list[Create]) -> None:
    """The marks of creates begun together (`prepare_create` not `whole`), written before
    their requests in one transaction: a lost answer is looked for before any is sent again."""
    with transaction.atomic():
        update_each(OutboxItem, [create.mark for create in creates])


def _store_link(
    row, run, record, record_mapping, created, values, integration, *, adopted=None,
    replace_broken=True, reparent=False, parents=None,
):  # fmt: skip
    """Record the link, finish the row and queue what follows it, in one transaction.

    `values` are what Rally's object holds (the baseline), with `parents`, the refs the create
    gave it (`_baseline`). An adopted object was made by an earlier attempt: `adopted` are
    the record's values now, and those changed since that attempt are queued as an update in
    the same transaction, never taken as sent; with `reparent` (Rally emptied a parent it
    deleted since), its parents go out with it.
    """

    def finish(link: Link) -> None:
        attempts.finish(row, sent_values=values)
        if adopted is not None:
            _queue_changed_since(
                row, integration, record, sent=values, now=adopted, reparent=reparent
            )
        action = ActivityAction.ADOPTED if adopted is not None else ActivityAction.CREATED
        history.note(
            row,
            action,
            f"{link.label} in Rally",
            user_id=row.decided_by_id or row.created_by_id,
        )
        _first_sent(run, integration)
        # Its comments and files from before follow it (sync/outgoing/discussion.py).
        queue_existing(record=record, link=link, integration=integration, run=run)
        # A feature's requirements follow it, their rows written with its link.
        _after_create(row, run, record=record, link=link, integration=integration)

    try:
        link = links.create_link(
            integration=integration,
            record_type=row.record_type,
            record_id=record.pk,
            rally_type=record_mapping.rally_type,
            rally_oid=created.object_id,
            formatted_id=created.formatted_id or "",
            baseline=_baseline(values, parents),
            rally_version=links.version_of(created),
            linked_by_id=row.created_by_id,
            # An adopted object too: `find_lost_create` takes none made before the first try.
            created_by_send_at=row.first_attempt_at,
            then=finish,
            replace_broken=replace_broken,
        )
    except links.AlreadyLinked as taken:
        return _linked_meanwhile(row, run, record, record_mapping, created, taken)
    run.made_link(link)
    return link


def _first_sent(run: DrainRun, integration: Integration) -> None:
    """The integration's first send is stamped once, not on every object (the catch-up
    starts from it)."""
    if integration.pk in run.stamped or (
        integration.first_sent_at and integration.source.first_sent_at
    ):
        return
    Integration.objects.filter(
        pk__in={integration.pk, integration.source.pk}, first_sent_at__isnull=True
    ).update(first_sent_at=timezone.now())
    transaction.on_commit(lambda: run.stamped.add(integration.pk))


def _queue_changed_since(row, integration, record, *, sent: dict, now: dict, reparent) -> None:
    changed = set(mapping.changed_fields(now, sent))
    if reparent:
        changed |= {relation for relation, _ in mapping.PARENT_FIELDS[row.record_type]}
    if changed:
        outbox.write_row(
            integration=integration,
            record_type=row.record_type,
            record_id=record.pk,
            kind=OutboxKind.UPDATE,
            fields=changed,
            user=row.created_by,
            state=OutboxState.QUEUED,
        )


def _linked_meanwhile(row, run, record, record_mapping, created, taken: links.AlreadyLinked):
    """The create happened, but the record or the object got linked by another path
    meanwhile: never leave an orphan behind in Rally."""
    held = taken.by_record
    if held is not None and held.rally_oid == created.object_id:
        attempts.finish(row, sent_values={})  # the same object, linked by the other path
        return None
    if held is not None:
        # The record is linked to another Rally object now: the one this send made is extra.
        try:
            run.client.delete(f"/{record_mapping.rally_type.lower()}/{created.object_id}")
        except RallyError as error:
            message = (
                f"{record.reference} was linked to {held.label} meanwhile; the "
                f"{created.label} this send made could not be deleted in Rally "
                f"({error.message}): delete it there."
            )
            attempts.fail(row, kind=ErrorKind.CONFIG, message=message)
            return None
        attempts.finish(row, sent_values={})
        history.note(
            row,
            ActivityAction.SKIPPED,
            f"{record.reference} was linked to {held.label} meanwhile: the "
            f"{created.label} this send made was deleted in Rally.",
        )
        return None
    other = load_record(taken.by_object.record_type, taken.by_object.record_id)
    attempts.fail(
        row,
        kind=ErrorKind.CONFIG,
        message=(
            f"Rally's {created.label}, made for {record.reference}, is linked to "
            f"{getattr(other, 'reference', 'another record')} through "
            f"“{taken.by_object.integration.name}”: unlink one of them."
        ),
    )
    logger.error("Outbox row %s: its Rally object is linked to another record", row.pk)
    return None


def _after_create(row, run, *, record, link, integration) -> None:
    """A created feature's requirements follow it (when the row says so)."""
    if row.cascade and row.record_type == RecordType.FEATURE:
        follow_feature(row, run, feature=record, integration=integration)
