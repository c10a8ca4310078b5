"""A record's place in Rally's rank: Rally ranks through `rankAbove`/`rankBelow` beside a
write (its `DragAndDropRank` is read-only), relative to another object, so the place is
given relative to the nearest linked sibling in aharally's order (a feature among its
release's features, a requirement among its feature's)."""

from __future__ import annotations

import logging

from aharally.integrations.connection import RallyProblem, client_for, ready_to_sync
from aharally.rally.errors import RallyError
from aharally.rally.query import where
from aharally.records.models import Feature, Requirement
from aharally.sync.models import Link, LinkState
from aharally.workspaces.models import RecordType

logger = logging.getLogger(__name__)


def _siblings(record, record_type: str):
    if record_type == RecordType.FEATURE:
        return Feature.objects.filter(release_id=record.release_id).order_by("rank", "id")
    if record_type == RecordType.REQUIREMENT:
        return Requirement.objects.filter(feature_id=record.feature_id).order_by("rank", "number")
    return None


def rank_parameter(record, record_type: str, integration_id: int) -> tuple[str, str] | None:
    """("rankBelow", ref) of the nearest linked sibling ranked above the record, else
    ("rankAbove", ref) of the nearest below; None when no sibling is in Rally (two queries)."""
    siblings = _siblings(record, record_type)
    if siblings is None:
        return None
    order = list(siblings.values_list("pk", flat=True))
    if record.pk not in order:
        return None
    linked = {
        record_id: f"/{rally_type.lower()}/{oid}"
        for record_id, rally_type, oid in Link.objects.filter(
            integration_id=integration_id,
            record_type=record_type,
            record_id__in=order,
            state=LinkState.OK,
        ).values_list("record_id", "rally_type", "rally_oid")
    }
    place = order.index(record.pk)
    for pk in reversed(order[:place]):
        if pk in linked:
            return "rankBelow", linked[pk]
    for pk in order[place + 1 :]:
        if pk in linked:
            return "rankAbove", linked[pk]
    return None


def place_created(integration_id: int, created: list[tuple[str, int]]) -> int:
    """Put the records a bulk send created at their place in Rally's rank (a task of its own,
    queued by the drain that created them).

    A bulk send's creates, and a feature's requirements, go out a dozen at a time, so none
    can be placed beside a sibling as it is created (the sibling may still be on its way).
    Once they are in, Rally's order of each sibling group is read (a request for a hundred
    objects) and only the records out of aharally's order are moved, each beside its
    neighbour: the longest run already in order stays where it is. Returns how many were
    moved (a request each). A move Rally refuses is left to the record's next rank change.
    """
    integration, _ = ready_to_sync(integration_id)
    if integration is None:
        return 0
    try:
        client = client_for(integration, interactive=False)
    except RallyProblem:
        return 0  # the drains say why; the ranks follow the next move
    try:
        moved = _place(client, integration_id, created)
    except (RallyError, RallyProblem) as error:
        logger.warning("Could not place %d new Rally objects in rank: %s", len(created), error)
        return 0
    finally:
        client.close()
    if moved:
        logger.info("Moved %d of %d new Rally objects to their rank", moved, len(created))
    return moved


def _place(client, integration_id: int, created: list[tuple[str, int]]) -> int:
    moved = 0
    for record_type in sorted({record_type for record_type, _ in created}):
        groups = _groups(record_type, [pk for kind, pk in created if kind == record_type])
        members = [pk for group in groups for pk in group]
        linked = {
            record_id: (rally_type, oid)
            for record_id, rally_type, oid in Link.objects.filter(
                integration_id=integration_id,
                record_type=record_type,
                record_id__in=members,
                state=LinkState.OK,
            ).values_list("record_id", "rally_type", "rally_oid")
        }
        # A group with one linked record is in order whatever Rally says: no request.
        groups = [group for group in groups if sum(pk in linked for pk in group) > 1]
        places = _rally_places(
            client, {pk: linked[pk] for group in groups for pk in group if pk in linked}
        )
        for group in groups:
            target = [pk for pk in group if pk in linked and linked[pk][1] in places]
            for pk, (how, beside) in _moves(target, key=lambda pk: places[linked[pk][1]]):
                rally_type, oid = linked[pk]
                other_type, other_oid = linked[beside]
                client.update(
                    f"/{rally_type.lower()}/{oid}",
                    {},
                    rank=(how, f"/{other_type.lower()}/{other_oid}"),
                )
                moved += 1
    return moved


def _groups(record_type: str, created_ids: list[int]) -> list[list[int]]:
    """The sibling groups (a release's features, a feature's requirements) of these records,
    each in aharally's order (two queries)."""
    if record_type == RecordType.FEATURE:
        model, parent, order = Feature, "release_id", ("rank", "id")
    elif record_type == RecordType.REQUIREMENT:
        model, parent, order = Requirement, "feature_id", ("rank", "number")
    else:
        return []
    parents = set(model.objects.filter(pk__in=created_ids).values_list(parent, flat=True))
    parents.discard(None)
    groups: dict[int, list[int]] = {}
    for pk, parent_id in (
        model.objects.filter(**{f"{parent}__in": parents})
        .order_by(parent, *order)
        .values_list("pk", parent)
    ):
        groups.setdefault(parent_id, []).append(pk)
    return list(groups.values())


def _rally_places(client, linked: dict[int, tuple[str, int]]) -> dict[int, str]:
    """Each linked object's DragAndDropRank, as Rally reports it (a request a hundred)."""
    by_type: dict[str, list[int]] = {}
    for rally_type, oid in linked.values():
        by_type.setdefault(rally_type, []).append(oid)
    places: dict[int, str] = {}
    for rally_type, oids in by_type.items():
        for start in range(0, len(oids), 100):
            for obj in client.query(
                rally_type,
                query=where("ObjectID", "in", oids[start : start + 100]),
                fetch=["ObjectID", "DragAndDropRank"],
            ):
                if obj.object_id is not None and obj.get("DragAndDropRank") is not None:
                    places[obj.object_id] = str(obj.get("DragAndDropRank"))
    return places


def _moves(target: list[int], *, key) -> list[tuple[int, tuple[str, int]]]:
    """The fewest moves that put `target` (aharally's order) in order in Rally, where `key`
    says each one's place: (record, ("rankBelow" or "rankAbove", the record beside it))."""
    if len(target) < 2:
        return []
    keep = set(_longest_in_order(target, key))
    moves = []
    first_kept = next(i for i, pk in enumerate(target) if pk in keep)
    # Those before the first record that stays go above it, one under the other.
    for i in range(first_kept):
        beside = target[i - 1] if i else target[first_kept]
        moves.append((target[i], ("rankBelow" if i else "rankAbove", beside)))
    # Each later one out of order goes right under its predecessor, already in place.
    for i in range(first_kept + 1, len(target)):
        if target[i] not in keep:
            moves.append((target[i], ("rankBelow", target[i - 1])))
    return moves


def _longest_in_order(target: list[int], key) -> list[int]:
    """The longest subsequence of `target` whose Rally places already increase."""
    tails: list[int] = []  # index into target of the smallest tail of each length
    previous: list[int | None] = [None] * len(target)
    for i, pk in enumerate(target):
        low, high = 0, len(tails)
        while low < high:
            middle = (low + high) // 2
            if key(target[tails[middle]]) < key(pk):
                low = middle + 1
            else:
                high = middle
        previous[i] = tails[low - 1] if low else None
        if low == len(tails):
            tails.append(i)
        else:
            tails[low] = i
    run, at = [], tails[-1] if tails else None
    while at is not None:
        run.append(target[at])
        at = previous[at]
    return run[::-1]
