"""The features board: its columns, filters, and moving cards by fractional rank.

A card's place is its release plus a float `rank`. Moving a card writes one row: its rank
becomes the midpoint of its new neighbours'. When the gap between two neighbours gets too
small for a float to split, the column is renumbered 1, 2, 3, ... once and the move retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet

from aharally.records.models import CustomValue, Feature, Release
from aharally.records.services import update_record, update_records
from aharally.workspaces.models import CustomFieldKind, Workspace

# Below this gap a midpoint would soon stop being strictly between its neighbours.
MIN_RANK_GAP = 1e-6
RANK_STEP = 1.0


# Ids beyond this overflow the database's integer columns (SQLite raises, PostgreSQL errors).
MAX_ID = 2**63 - 1


def parse_id(value) -> int | None:
    """A positive database id from user input, or None for anything else."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class MoveError(Exception):
    """A move that cannot be made; the message is for the person who tried."""


@dataclass(slots=True)
class Card:
    """What a board card shows: read as plain values, since model instances for thousands
    of cards (feature, status, assignee each) cost more than rendering them."""

    id: int
    reference: str
    name: str
    release_id: int
    estimate: Decimal | None
    status_name: str | None
    status_color: str | None
    assignee_id: int | None
    assignee_name: str

    @classmethod
    def from_feature(cls, feature: Feature) -> Card:
        status, assignee = feature.status, feature.assignee
        return cls(
            id=feature.pk,
            reference=feature.reference,
            name=feature.name,
            release_id=feature.release_id,
            estimate=feature.estimate,
            status_name=status.name if status else None,
            status_color=status.color if status else None,
            assignee_id=feature.assignee_id,
            assignee_name=person_name(
                assignee.first_name, assignee.last_name, assignee.email, assignee.username
            )
            if assignee
            else "",
        )


def person_name(first: str, last: str, email: str, username: str) -> str:
    """How people are named on the board: full name, else email, else username."""
    return f"{first} {last}".strip() or email or username


@dataclass
class Column:
    release: Release
    cards: list[Card] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.cards)

    @property
    def estimate_total(self) -> Decimal:
        return sum((card.estimate for card in self.cards if card.estimate), Decimal(0))


@dataclass(frozen=True)
class BoardFilters:
    status_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    tag_id: int | None = None
    query: str = ""
    # (custom field id, kind, choice or user id or NONE for "no value", or the words a text
    # field contains), checked by the view.
    custom: tuple[tuple[int, str, int | str], ...] = ()

    @property
    def active(self) -> bool:
        return bool(
            self.status_id
            or self.assignee_id
            or self.unassigned
            or self.tag_id
            or self.query
            or self.custom
        )

    def custom_value(self, field_id: int) -> int | str | None:
        return next((value for fid, _kind, value in self.custom if fid == field_id), None)


NONE = "none"


def _custom_filter(queryset: QuerySet[Feature], field_id: int, kind: str, value) -> QuerySet:
    # A subquery on the indexed (field, choice) / (field, user) rows: part of the board's one
    # query for its cards, whatever the number of features.
    rows = CustomValue.objects.filter(field_id=field_id)
    if kind in (CustomFieldKind.TEXT, CustomFieldKind.URL):
        return queryset.filter(pk__in=rows.filter(text__icontains=value).values("record_id"))
    if value == NONE:
        return queryset.exclude(pk__in=rows.values("record_id"))
    column = "user_id" if kind == CustomFieldKind.MEMBER else "choice_id"
    return queryset.filter(pk__in=rows.filter(**{column: value}).values("record_id"))


def filter_features(queryset: QuerySet[Feature], filters: BoardFilters) -> QuerySet[Feature]:
    if filters.status_id:
        queryset = queryset.filter(status_id=filters.status_id)
    if filters.unassigned:
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.assignee_id:
        queryset = queryset.filter(assignee_id=filters.assignee_id)
    if filters.tag_id:
        queryset = queryset.filter(tags__id=filters.tag_id)
    if filters.query:
        text = filters.query.strip()
        queryset = queryset.filter(Q(name__icontains=text) | Q(reference__iexact=text))
    for field_id, kind, value in filters.custom:
        queryset = _custom_filter(queryset, field_id, kind, value)
    return queryset


def board_columns(*, workspace: Workspace, filters: BoardFilters | None = None) -> list[Column]:
    """One column per release (parking lots last), cards in rank order; two queries in all.

    The query count does not depend on the number of cards: no per-card look-ups.
    """
    filters = filters or BoardFilters()
    releases = Release.objects.filter(workspace=workspace).select_related("status")
    columns = {release.pk: Column(release=release) for release in releases}
    rows = (
        filter_features(Feature.objects.filter(workspace=workspace), filters)
        .order_by("rank", "id")
        .values_list(
            "id",
            "reference",
            "name",
            "release_id",
            "estimate",
            "status__name",
            "status__color",
            "assignee_id",
            "assignee__first_name",
            "assignee__last_name",
            "assignee__email",
            "assignee__username",
        )
    )
    for pk, ref, name, release_id, estimate, status, colour, assignee_id, *person in rows:
        columns[release_id].cards.append(
            Card(
                id=pk,
                reference=ref,
                name=name,
                release_id=release_id,
                estimate=estimate,
                status_name=status,
                status_color=colour,
                assignee_id=assignee_id,
                assignee_name=person_name(*person) if assignee_id else "",
            )
        )
    return list(columns.values())


def _ordered(queryset: QuerySet[Feature]) -> QuerySet[Feature]:
    return queryset.order_by("rank", "id")


def _rank_between(
    *, release: Release, moving: Feature, after_id: int | None, before_id: int | None
):
    """The neighbours' ranks (low, high) for a card placed after/before another; None = edge."""
    siblings = Feature.objects.filter(release=release).exclude(pk=moving.pk)
    if after_id is not None:
        low = siblings.values_list("rank", flat=True).get(pk=after_id)
        high = (
            _ordered(siblings.filter(Q(rank__gt=low) | Q(rank=low, id__gt=after_id)))
            .values_list("rank", flat=True)
            .first()
        )
        return low, high
    if before_id is not None:
        high = siblings.values_list("rank", flat=True).get(pk=before_id)
        low = (
            siblings.filter(Q(rank__lt=high) | Q(rank=high, id__lt=before_id))
            .order_by("-rank", "-id")
            .values_list("rank", flat=True)
            .first()
        )
        return low, high
    # Neither neighbour: the end of the column.
    last = siblings.order_by("-rank", "-id").values_list("rank", flat=True).first()
    return last, None


def renumber_column(*, release: Release, exclude: Feature | None = None) -> None:
    """Spread a column's ranks out again: 1, 2, 3, ... in their current order."""
    siblings = Feature.objects.filter(release=release)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    cards = list(_ordered(siblings).only("id", "rank"))
    for position, card in enumerate(cards, start=1):
        card.rank = position * RANK_STEP
    Feature.objects.bulk_update(cards, ["rank"], batch_size=500)


def _new_rank(*, release, moving, after_id, before_id) -> float:
    low, high = _rank_between(
        release=release, moving=moving, after_id=after_id, before_id=before_id
    )
    if low is None and high is None:
        return RANK_STEP
    if low is None:
        return high - RANK_STEP
    if high is None:
        return low + RANK_STEP
    if high - low < MIN_RANK_GAP:
        renumber_column(release=release, exclude=moving)
        low, high = _rank_between(
            release=release, moving=moving, after_id=after_id, before_id=before_id
        )
        if high is None:
            return low + RANK_STEP
    return (low + high) / 2


def _neighbour_id(value, *, workspace: Workspace, release: Release, what: str) -> int | None:
    if value in (None, ""):
        return None
    pk = parse_id(value)
    if pk is None:
        raise MoveError(f"The {what} card is not a feature of this board.")
    if not Feature.objects.filter(pk=pk, workspace=workspace, release=release).exists():
        raise MoveError(
            f"The {what} card is no longer in {release.name}; reload the board and try again."
        )
    return pk


@transaction.atomic
def move_feature(
    *,
    feature: Feature,
    release: Release,
    after: int | str | None = None,
    before: int | str | None = None,
    user=None,
) -> Feature:
    """Put a feature into a release, right after the card `after` (or before `before`).

    With neither neighbour the card goes to the end of the column. A change of release is
    kept in the feature's history; a change of rank is not (it would drown the history).
    """
    if release.workspace_id != feature.workspace_id:
        raise MoveError("Choose a release of this workspace.")
    workspace = feature.workspace
    after_id = _neighbour_id(after, workspace=workspace, release=release, what="previous")
    before_id = None
    if after_id is None:
        before_id = _neighbour_id(before, workspace=workspace, release=release, what="next")
    if feature.pk in (after_id, before_id):
        raise MoveError("A card cannot be placed next to itself.")
    rank = _new_rank(release=release, moving=feature, after_id=after_id, before_id=before_id)
    if feature.release_id != release.pk:
        update_record(feature, changes={"release": release}, user=user)
    Feature.objects.filter(pk=feature.pk).update(rank=rank)
    feature.rank = rank
    return feature


def append_to_release(*, features: Iterable[Feature], release: Release, user=None) -> list[Feature]:
    """Move features to the end of a release's column, keeping their relative order."""
    features = list(features)
    moving_ids = [feature.pk for feature in features]
    last = (
        Feature.objects.filter(release=release)
        .exclude(pk__in=moving_ids)
        .order_by("-rank", "-id")
        .values_list("rank", flat=True)
        .first()
    )
    rank = last or 0.0
    # In a few statements however many move (a bulk move of a thousand cards was a few
    # seconds of per-card updates, history rows and sync look-ups).
    update_records(
        [
            (feature, {"release": release})
            for feature in features
            if feature.release_id != release.pk
        ],
        user=user,
    )
    for feature in features:
        rank += RANK_STEP
        feature.rank = rank
    Feature.objects.bulk_update(features, ["rank"], batch_size=500)
    return features


@transaction.atomic
def update_feature(*, feature: Feature, changes: dict, user=None) -> list[str]:
    """Apply a form's changes; a new release puts the card at the end of that column.

    Without this the card would keep its rank from the old column and land anywhere.
    """
    changes = dict(changes)
    release = changes.pop("release", None)
    changed = update_record(feature, changes=changes, user=user)
    if release is not None and release.pk != feature.release_id:
        move_feature(feature=feature, release=release, user=user)
        changed.append("release")
    return changed
