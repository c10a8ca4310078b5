"""The Integrations ▾ menu of a record: its links, what waits, its integration history."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from aharally.integrations.models import Integration, IntegrationState, RecordMapping
from aharally.sync.models import OPEN_STATES, Activity, Link, LinkState, OutboxItem, OutboxState
from aharally.workspaces.models import Capability, RecordType

# Record types with an Integrations menu, and how many history lines it shows.
MENU_TYPES = {RecordType.FEATURE, RecordType.RELEASE, RecordType.INITIATIVE, RecordType.EPIC}
HISTORY_LIMIT = 10


def bar_html(percent: int, accepted: int, stories: int, *, what: str = "stories") -> SafeString:
    """Progress as a bar with its percentage written beside it (cards and menus).

    A progressbar for screen readers (aria-valuenow, and the count in words); the fill's
    width is a class in 5% steps, since the Content Security Policy allows no inline style.
    """
    percent = max(0, min(100, int(percent)))
    words = escape(f"{percent}% done in Rally: {accepted} of {stories} {what} accepted")
    step = 5 * round(percent / 5)
    return mark_safe(  # noqa: S308 (numbers, and words escaped above)
        f'<span class="rally-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{percent}" aria-valuetext="{words}" title="{words}">'
        f'<span class="rally-bar-track" aria-hidden="true">'
        f'<span class="rally-bar-fill w{step}"></span></span>'
        f'<span class="rally-bar-text" aria-hidden="true">{percent}%</span></span>'
    )


@dataclass
class IntegrationEntry:
    integration: Integration
    link: Link | None = None
    row: OutboxItem | None = None  # the open or in-flight row, if any

    @property
    def busy(self) -> bool:
        """Whether the menu should keep polling (something is on its way)."""
        return (
            self.row is not None
            and self.row.state in (OutboxState.QUEUED, OutboxState.IN_FLIGHT)
            and not self.sends_in_minutes
        )

    @property
    def sends_in_minutes(self) -> int | None:
        """Minutes left of a rich-text edit's quiet period (the typing may not be over)."""
        row = self.row
        if row is None or row.state != OutboxState.QUEUED or row.error_kind or not row.not_before:
            return None
        seconds = (row.not_before - timezone.now()).total_seconds()
        return math.ceil(seconds / 60) if seconds > 0 else None


@dataclass
class MenuState:
    record: object
    record_type: str
    entries: list[IntegrationEntry] = field(default_factory=list)
    history: list[Activity] = field(default_factory=list)
    # A release's features together: how many are in Rally and how far they are.
    release_progress: dict | None = None

    @property
    def busy(self) -> bool:
        return any(entry.busy for entry in self.entries)

    @property
    def poll_seconds(self) -> int | None:
        """How soon the menu looks again: soon while sending, less often while it waits for a
        reviewer (the link appears without a reload once someone approves)."""
        if self.busy:
            return 1
        if any(
            e.row is not None and e.row.state == OutboxState.AWAITING_APPROVAL for e in self.entries
        ):
            return 5
        if any(e.sends_in_minutes for e in self.entries):
            return 30  # the minutes left count down, and the send happens without a reload
        return None

    @property
    def links(self) -> list[Link]:
        return [e.link for e in self.entries if e.link is not None]

    @property
    def link_bars(self) -> list[tuple[Link, str, str]]:
        """Each link with its progress bar ("" until Rally's progress was read) and the name
        of the integration it is through (two Rallys may each have an F4: which is which)."""
        linked = [(e.link, e.integration) for e in self.entries if e.link is not None]
        return [
            (
                link,
                bar_html(
                    link.percent_done,
                    link.progress.get("accepted", 0),
                    link.progress.get("stories", 0),
                )
                if link.percent_done is not None and link.progress.get("stories")
                else "",
                integration.name,
            )
            for link, integration in linked
        ]

    @property
    def several_links(self) -> bool:
        return len(self.links) > 1

    @property
    def release_bar(self) -> str:
        progress = self.release_progress
        if not progress or progress.get("percent") is None:
            return ""
        return bar_html(progress["percent"], progress["accepted"], progress["stories"])


def sendable_integrations(workspace, record_type: str) -> list[Integration]:
    """The workspace's enabled integrations that map this record type (two queries)."""
    integrations = list(
        Integration.objects.filter(workspace=workspace, state=IntegrationState.ENABLED)
        .select_related("template")
        .order_by("name")
    )

    mapped = set(
        RecordMapping.objects.filter(
            integration_id__in={i.source.pk for i in integrations}, record_type=record_type
        ).values_list("integration_id", flat=True)
    )
    return [i for i in integrations if i.source.pk in mapped]


def menu_state(record) -> MenuState:
    record_type = record.record_type
    integrations = sendable_integrations(record.workspace, record_type)
    links = {
        link.integration_id: link
        for link in Link.objects.filter(record_type=record_type, record_id=record.pk)
    }
    rows: dict[int, OutboxItem] = {}
    for row in OutboxItem.objects.filter(
        record_type=record_type,
        record_id=record.pk,
        state__in=[*OPEN_STATES, OutboxState.IN_FLIGHT],
    ).order_by("created_at"):
        rows.setdefault(row.integration_id, row)
    # A link through an integration no longer enabled is still shown.
    known = {i.pk for i in integrations}
    extra = [link.integration for link in links.values() if link.integration_id not in known]
    entries = [
        IntegrationEntry(integration=i, link=links.get(i.pk), row=rows.get(i.pk))
        for i in [*integrations, *extra]
    ]
    history = list(
        Activity.objects.filter(record_type=record_type, record_id=record.pk)
        .select_related("user", "integration")
        .order_by("-at", "-id")[:HISTORY_LIMIT]
    )
    return MenuState(
        record=record,
        record_type=record_type,
        entries=entries,
        history=history,
        release_progress=release_progress(record) if record_type == RecordType.RELEASE else None,
    )


def release_progress(release) -> dict | None:
    """Its features' Rally progress together: stories accepted of all their stories (2 queries)."""
    feature_ids = list(release.features.values_list("pk", flat=True))
    if not feature_ids:
        return None
    links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=feature_ids, state=LinkState.OK
    )
    linked = {link.record_id: link for link in links}
    stories = sum(int(link.progress.get("stories") or 0) for link in linked.values())
    accepted = sum(int(link.progress.get("accepted") or 0) for link in linked.values())
    return {
        "features": len(feature_ids),
        "linked": len(linked),
        "stories": stories,
        "accepted": accepted,
        "percent": round(100 * accepted / stories) if stories else None,
    }


def menu_context(
    request, record, *, message: str = "", level: str = "success", keep_open: bool = False
) -> dict:
    """The context of `sync/partials/record_menu.html`."""
    return {
        "state": menu_state(record),
        "record": record,
        "can_send": request.membership.can(Capability.EDIT_RECORDS),
        "message": message,
        "level": level,
        "keep_open": keep_open,
        "LinkState": LinkState,
        "OutboxState": OutboxState,
        "prefix": request.workspace.prefix,
    }


def record_menu(*, request, record) -> str:
    """The hook records calls for a drawer or record page."""
    if record.record_type not in MENU_TYPES:
        return ""
    return render_to_string(
        "sync/partials/record_menu.html", menu_context(request, record), request=request
    )
