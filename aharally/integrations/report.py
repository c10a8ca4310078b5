"""The Manage integrations report: every integration in the workspaces a person owns.

The state shown is derived (draft, enabled, disabled, needs re-authorization, failing) in SQL,
so the report filters on it and costs the same few queries however many integrations there
are. Linked records and pending changes belong to the sync: it registers a counter with
`register_sync_counter()`; until it does, both read 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import models
from django.db.models import Case, Q, QuerySet, Value, When

from aharally.integrations import value_map_news
from aharally.integrations.log import failing_q
from aharally.integrations.models import Integration, IntegrationState
from aharally.workspaces.models import Membership, Role


class DisplayState(models.TextChoices):
    DRAFT = "draft", "Draft"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"
    NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs re-authorization"
    FAILING = "failing", "Failing"


def needs_reauthorization_q() -> Q:
    # A derived integration uses its template's credential.
    return Q(needs_reauthorization=True) | Q(template__needs_reauthorization=True)


def with_display_state(queryset: QuerySet[Integration]) -> QuerySet[Integration]:
    return queryset.annotate(
        display_state=Case(
            When(state=IntegrationState.DRAFT, then=Value(DisplayState.DRAFT.value)),
            When(state=IntegrationState.DISABLED, then=Value(DisplayState.DISABLED.value)),
            When(needs_reauthorization_q(), then=Value(DisplayState.NEEDS_REAUTHORIZATION.value)),
            When(failing_q(), then=Value(DisplayState.FAILING.value)),
            default=Value(DisplayState.ENABLED.value),
            output_field=models.CharField(),
        )
    )


def display_state_of(integration: Integration) -> str:
    return (
        with_display_state(Integration.objects.filter(pk=integration.pk))
        .values_list("display_state", flat=True)
        .get()
    )


# -- linked records and pending changes (filled in by the sync) ---------------------------


@dataclass(frozen=True)
class SyncCounts:
    linked: int = 0
    pending: int = 0
    # Members with no Rally user (People); None until Rally's users were read.
    unmatched: int | None = None
    people_url: str = ""  # where they are listed


SyncCounter = Callable[[Sequence[int]], Mapping[int, SyncCounts]]
_sync_counter: SyncCounter | None = None


def register_sync_counter(counter: SyncCounter | None) -> None:
    """The sync calls this (in its AppConfig.ready) with a function of integration ids that
    returns their counts in a fixed number of queries."""
    global _sync_counter
    _sync_counter = counter


_cluster_notice: Callable[[], str] | None = None


def register_cluster_notice(notice: Callable[[], str] | None) -> None:
    """Ops calls this (in its AppConfig.ready) with a function saying, in plain words, what
    an owner should know of the task cluster ("" while it is well): the pages show it
    without integrations importing ops, which sits above it."""
    global _cluster_notice
    _cluster_notice = notice


_health: Callable | None = None


def register_health(health: Callable | None) -> None:
    """Ops calls this (in its AppConfig.ready) with a function of integration ids that returns
    each one's lag figures and recent health, which the pages show (templates/ops/health.html)."""
    global _health
    _health = health


def health_of(integration_ids: Sequence[int]) -> dict:
    return dict(_health(integration_ids)) if _health and integration_ids else {}


def cluster_notice() -> str:
    return _cluster_notice() if _cluster_notice else ""


def sync_counts(integration_ids: Sequence[int]) -> dict[int, SyncCounts]:
    counted = dict(_sync_counter(integration_ids)) if _sync_counter and integration_ids else {}
    return {pk: counted.get(pk, SyncCounts()) for pk in integration_ids}


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    integration: Integration
    state: str
    rally_workspace: str
    rally_project: str
    counts: SyncCounts
    # Lags and recent health (ops registers it; None when nothing does).
    health: object = None
    # Value maps with choices nobody mapped yet (value_map_news), one line each.
    value_map_news: tuple[str, ...] = ()

    @property
    def state_label(self) -> str:
        return DisplayState(self.state).label


@dataclass(frozen=True)
class ReportFilters:
    state: str = ""
    workspace: str = ""  # a workspace prefix
    template: str = ""  # a template id, "none" (standalone) or "templates" (templates only)


def owned_integrations(user) -> QuerySet[Integration]:
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values("workspace_id")
    return Integration.objects.filter(workspace_id__in=owned)


def report_rows(*, user, filters: ReportFilters) -> list[ReportRow]:
    """The report's rows for `user`; the same queries whatever the number of integrations
    (four, and three more when a custom field is mapped)."""
    queryset = with_display_state(
        owned_integrations(user).select_related("workspace", "template")
    ).order_by("workspace__name", "name", "pk")
    if filters.state in DisplayState.values:
        queryset = queryset.filter(display_state=filters.state)
    if filters.workspace:
        queryset = queryset.filter(workspace__prefix=filters.workspace.upper())
    if filters.template == "none":
        queryset = queryset.filter(template__isnull=True, is_template=False)
    elif filters.template == "templates":
        queryset = queryset.filter(is_template=True)
    elif filters.template.isdigit():
        template_id = int(filters.template)
        queryset = queryset.filter(Q(template_id=template_id) | Q(pk=template_id))
    integrations = list(queryset)
    counts = sync_counts([i.pk for i in integrations])
    health = health_of([i.pk for i in integrations])
    news = value_map_news.report_news(integrations)
    rows = []
    for integration in integrations:
        template = integration.template
        own_project = bool(integration.rally_project_oid)
        rows.append(
            ReportRow(
                integration=integration,
                state=integration.display_state,
                rally_workspace=integration.rally_workspace_name
                or (template.rally_workspace_name if template else ""),
                rally_project=integration.rally_project_name
                if own_project or template is None
                else template.rally_project_name,
                counts=counts[integration.pk],
                health=health.get(integration.pk),
                value_map_news=tuple(news.get(integration.pk, ())),
            )
        )
    return rows


def report_choices(user) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Workspaces and templates to filter by (two queries)."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).select_related("workspace")
    workspaces = sorted(
        ((m.workspace.prefix, m.workspace.name) for m in owned), key=lambda pair: pair[1]
    )
    templates = [
        (str(t.pk), f"{t.name} ({t.workspace.name})")
        for t in owned_integrations(user)
        .filter(is_template=True)
        .select_related("workspace")
        .order_by("name")
    ]
    return workspaces, templates
