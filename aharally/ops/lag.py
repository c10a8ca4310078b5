"""How long changes take each way, and the integration's recent health, for its pages.

*To Rally*: an outbox row's `created_at` (the first edit it carries) to its `finished_at`, for
rows that wrote something (waiting for approval counts: it is part of the wait). *To aharally*:
Rally's `LastUpdateDate` of an object to the catch-up applying it, kept here as `IncomingLag`
rows (the catch-up tells `note_catch_up` through `sync.listeners`). Rows older than a day and
a bit are deleted as new ones come.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.observability.instruments import observe_lag
from aharally.ops.models import IncomingLag
from aharally.sync.models import OutboxItem, OutboxState, PullCursor

KEEP = timedelta(hours=26)
# Each window reads at most this many of its newest changes (a bulk send makes thousands).
SAMPLE = 5000
HOURS = 24


def now() -> datetime:
    """The lag's clock (a test moves it rather than waiting)."""
    return timezone.now()


def note_catch_up(integration_id: int, *, changed: list) -> None:
    """Keep how long each change the catch-up applied took since Rally made it."""
    applied_at = now()
    rows = []
    for _oid, stamp in changed:
        made = parse_datetime(stamp) if stamp else None
        if made is None:
            continue
        seconds = max((applied_at - made).total_seconds(), 0.0)
        observe_lag("to_aharally", seconds)
        rows.append(
            IncomingLag(integration_id=integration_id, seconds=seconds, applied_at=applied_at)
        )
    if rows:
        IncomingLag.objects.bulk_create(rows)
        IncomingLag.objects.filter(applied_at__lt=applied_at - KEEP).delete()


@dataclass
class Figures:
    """A direction's lag over a window, in seconds (None without changes)."""

    count: int = 0
    median: float | None = None
    p95: float | None = None

    def __str__(self) -> str:
        if not self.count:
            return "no changes"
        return (
            f"{duration(self.median)} median, {duration(self.p95)} p95 "
            f"({self.count} change{'s' if self.count != 1 else ''})"
        )

    @property
    def short(self) -> str:
        """The median and p95 as "12 s / 40 s", or "—" without changes (a table cell)."""
        if not self.count:
            return "—"
        return f"{duration(self.median)} / {duration(self.p95)}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Health:
    to_rally_hour: Figures
    to_rally_day: Figures
    to_aharally_hour: Figures
    to_aharally_day: Figures
    last_send: datetime | None
    last_catch_up: datetime | None
    failures_day: int
    # 24 hourly buckets, oldest first: (hour's start, p95 to Rally, p95 to aharally).
    hours: list[tuple[datetime, float | None, float | None]] = field(default_factory=list)

    @property
    def chart(self) -> dict:
        return chart(self.hours)


def figures_of(values: list[float]) -> Figures:
    if not values:
        return Figures()
    ordered = sorted(values)
    # Nearest rank: the smallest value at least 95 % of the changes took no longer than.
    rank = max(int(-(-0.95 * len(ordered) // 1)) - 1, 0)
    return Figures(count=len(ordered), median=median(ordered), p95=ordered[rank])


def health_of(integration_ids) -> dict[int, Health]:
    """Each integration's figures, in five queries however many there are."""
    ids = list(integration_ids)
    at = now()
    day_ago, hour_ago = at - timedelta(days=1), at - timedelta(hours=1)
    outgoing: dict[int, list] = defaultdict(list)
    for pk, made, done in (
        OutboxItem.objects.filter(
            integration_id__in=ids, state=OutboxState.SENT, finished_at__gte=day_ago
        )
        .exclude(sent_values={})
        .order_by("-finished_at")
        .values_list("integration_id", "created_at", "finished_at")[: SAMPLE * len(ids)]
    ):
        outgoing[pk].append((done, (done - made).total_seconds()))
    incoming: dict[int, list] = defaultdict(list)
    for pk, when, seconds in (
        IncomingLag.objects.filter(integration_id__in=ids, applied_at__gte=day_ago)
        .order_by("-applied_at")
        .values_list("integration_id", "applied_at", "seconds")[: SAMPLE * len(ids)]
    ):
        incoming[pk].append((when, seconds))
    last_send = dict(
        OutboxItem.objects.filter(integration_id__in=ids, state=OutboxState.SENT)
        .values("integration_id")
        .annotate(last=Max("finished_at"))
        .values_list("integration_id", "last")
    )
    failures = dict(
        OutboxItem.objects.filter(integration_id__in=ids, updated_at__gte=day_ago)
        .exclude(error_kind="")
        .values("integration_id")
        .annotate(n=Count("pk"))
        .values_list("integration_id", "n")
    )
    caught_up = dict(
        PullCursor.objects.filter(integration_id__in=ids).values_list(
            "integration_id", "last_pulled_at"
        )
    )
    found = {}
    for pk in ids:
        out, inc = outgoing.get(pk, []), incoming.get(pk, [])
        found[pk] = Health(
            to_rally_hour=figures_of([s for when, s in out if when >= hour_ago]),
            to_rally_day=figures_of([s for _, s in out]),
            to_aharally_hour=figures_of([s for when, s in inc if when >= hour_ago]),
            to_aharally_day=figures_of([s for _, s in inc]),
            last_send=last_send.get(pk),
            last_catch_up=caught_up.get(pk),
            failures_day=failures.get(pk, 0),
            hours=_hourly(at, out, inc),
        )
    return found


def _hourly(at, outgoing, incoming):
    start = at - timedelta(hours=HOURS)
    buckets = []
    for n in range(HOURS):
        low, high = start + timedelta(hours=n), start + timedelta(hours=n + 1)
        out = figures_of([s for when, s in outgoing if low <= when < high]).p95
        inc = figures_of([s for when, s in incoming if low <= when < high]).p95
        buckets.append((low, out, inc))
    return buckets


# The chart's drawing area, in SVG units.
WIDTH, HEIGHT, BAR = 480, 80, 20


def chart(hours) -> dict:
    """Bars for the server-rendered SVG: each hour's p95 each way, scaled to the largest."""
    top = max([v for _, out, inc in hours for v in (out, inc) if v is not None], default=0.0)
    bars = []
    for n, (start, out, inc) in enumerate(hours):
        for offset, value, kind in ((0, out, "to-rally"), (BAR // 2, inc, "to-aharally")):
            if value is None or not top:
                continue
            height = max(round(value / top * HEIGHT, 1), 1)
            bars.append(
                {
                    "x": n * BAR + offset,
                    "y": round(HEIGHT - height, 1),
                    "height": height,
                    "kind": kind,
                    "title": f"{start:%H:%M} {kind.replace('-', ' ')}: {value:.0f} s (p95)",
                }
            )
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "top": top, "bar": BAR // 2 - 1}
