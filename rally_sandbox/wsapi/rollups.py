"""Portfolio item roll-ups as Rally computes them, from the leaf stories below each item.

A leaf story has no child stories. A Feature's leaf stories are its own stories (PortfolioItem)
and their descendants through Parent that have no children; an Initiative's are those of its
Features, and so on up. A story is accepted in Accepted or any state after it (Released).

When a story write changes an item's figures, the item gets a new version and LastUpdateDate,
as on Rally, so a `(LastUpdateDate > cursor)` catch-up query finds it (no revision entry: Rally
does not record roll-ups in the history).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from .models import Artifact
from .typespec import PORTFOLIO_PATHS, SCHEDULE_STATES

STORY = "HierarchicalRequirement"
# Rally stops a story hierarchy long before this; it bounds the walk if data is odd.
MAX_STORY_DEPTH = 50


@dataclass(frozen=True)
class Figures:
    count: int = 0
    accepted: int = 0
    points: float = 0.0
    accepted_points: float = 0.0

    @property
    def percent_count(self) -> float:
        return round(self.accepted / self.count, 4) if self.count else 0

    @property
    def percent_points(self) -> float:
        return round(self.accepted_points / self.points, 4) if self.points else 0

    def value(self, figure: str):
        if figure == "percent_count":
            return self.percent_count
        if figure == "percent_points":
            return self.percent_points
        return getattr(self, figure)


def is_accepted(schedule_state: str, states: list[str] | None = None) -> bool:
    """Accepted, or a state after it (the optional Released)."""
    states = states or SCHEDULE_STATES
    if schedule_state not in states or "Accepted" not in states:
        return schedule_state in {"Accepted", "Released"}
    return states.index(schedule_state) >= states.index("Accepted")


def figures(item_ids: list[int], type_path: str) -> dict[int, Figures]:
    """Roll-ups of portfolio items of one type, in a few queries whatever their number."""
    level = PORTFOLIO_PATHS.index(type_path)
    # Down the portfolio to Features: feature id -> the item of `type_path` above it.
    owner = {pk: pk for pk in item_ids}
    for _ in range(level):
        rows = Artifact.objects.filter(parent_id__in=list(owner)).values_list("pk", "parent_id")
        owner = {pk: owner[parent] for pk, parent in rows}
    # Down the story tree: story id -> item, keeping each story's state and estimate.
    stories: dict[int, tuple[int, str, float | None]] = {}
    frontier = list(
        Artifact.objects.filter(portfolio_item_id__in=list(owner), type_path=STORY).values_list(
            "pk", "portfolio_item_id", "schedule_state", "plan_estimate"
        )
    )
    parents: set[int] = set()
    depth = 0
    while frontier and depth < MAX_STORY_DEPTH:
        for pk, above, state, points in frontier:
            item = owner[above] if depth == 0 else stories[above][0]
            stories[pk] = (item, state, points)
        frontier = list(
            Artifact.objects.filter(parent_id__in=[row[0] for row in frontier], type_path=STORY)
            .exclude(pk__in=list(stories))
            .values_list("pk", "parent_id", "schedule_state", "plan_estimate")
        )
        parents.update(row[1] for row in frontier)
        depth += 1
    totals: dict[int, list[float]] = {pk: [0, 0, 0.0, 0.0] for pk in item_ids}
    workspace_states = _workspace_states(item_ids)
    for pk, (item, state, points) in stories.items():
        if pk in parents:
            continue
        row = totals[item]
        accepted = is_accepted(state, workspace_states.get(item))
        row[0] += 1
        row[1] += accepted
        row[2] += points or 0
        row[3] += (points or 0) if accepted else 0
    return {
        pk: Figures(int(count), int(accepted), points, accepted_points)
        for pk, (count, accepted, points, accepted_points) in totals.items()
    }


def _workspace_states(item_ids: list[int]) -> dict[int, list[str]]:
    from rally_sandbox.accounts.models import Workspace

    rows = dict(Artifact.objects.filter(pk__in=item_ids).values_list("pk", "workspace_id"))
    workspaces = {w.pk: w.schedule_states for w in Workspace.objects.filter(pk__in=rows.values())}
    return {pk: workspaces.get(workspace_id) for pk, workspace_id in rows.items()}


def items_above(artifact: Artifact) -> list[Artifact]:
    """The portfolio items whose roll-ups include this artifact, as it is in memory now.

    For a story: its Feature (through parent stories) and the items above that; for a portfolio
    item: the items above it. Anything else counts in no roll-up.
    """
    seen: set[int | None] = set()
    if artifact.type_path in PORTFOLIO_PATHS:
        seen.add(artifact.pk)
        first = artifact.parent_id
    elif artifact.type_path == STORY:
        current = artifact
        while current is not None and current.pk not in seen and current.type_path == STORY:
            seen.add(current.pk)
            if current.portfolio_item_id is not None:
                break
            current = (
                Artifact.objects.filter(pk=current.parent_id).first() if current.parent_id else None
            )
        first = current.portfolio_item_id if current is not None else None
    else:
        return []
    if first is None:
        return []
    items = []
    item = _portfolio_item_of(artifact, first)
    while item is not None and item.pk not in seen and item.type_path in PORTFOLIO_PATHS:
        seen.add(item.pk)
        items.append(item)
        item = Artifact.objects.filter(pk=item.parent_id).first() if item.parent_id else None
    return items


def _portfolio_item_of(artifact: Artifact, pk: int) -> Artifact | None:
    """The first item above, from the story's own reference when the write loaded it."""
    if artifact.portfolio_item_id == pk and Artifact.portfolio_item.is_cached(artifact):
        return artifact.portfolio_item
    return Artifact.objects.filter(pk=pk).first()


def snapshot(items: list[Artifact]) -> dict[int, Figures]:
    result: dict[int, Figures] = {}
    for type_path in {item.type_path for item in items}:
        ids = [item.pk for item in items if item.type_path == type_path]
        result.update(figures(ids, type_path))
    return result


def touch_changed(before: dict[int, Figures], items: list[Artifact]) -> list[int]:
    """Give each item whose figures changed a new version and LastUpdateDate; their ids."""
    after = snapshot(items)
    changed = [pk for pk, values in after.items() if before.get(pk, Figures()) != values]
    touch(changed)
    return changed


def touch(item_ids: list[int]) -> None:
    """A new version and LastUpdateDate for these items (no revision, no webhook)."""
    if item_ids:
        Artifact.objects.filter(pk__in=item_ids).update(
            version=F("version") + 1, last_update_date=timezone.now()
        )
