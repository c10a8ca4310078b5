"""Features → Board: the columns, filters and drag-and-drop moves."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from aharally.records import custom
from aharally.records.board import (
    NONE,
    BoardFilters,
    MoveError,
    board_columns,
    move_feature,
    parse_id,
    person_name,
)
from aharally.records.bulk import MAX_SELECTION, bulk_actions_for
from aharally.records.hooks import card_decorations
from aharally.records.models import Feature, Release, Tag
from aharally.records.views.cards import CardOptions, render_cards
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability, CustomFieldKind, RecordType, WorkflowStatus

QUERY_MAX_LENGTH = 100


def feature_base_url(prefix: str) -> str:
    """The URL up to a feature's reference, so that 2,000 cards need no reverse() each."""
    placeholder = f"{prefix}-1"
    url = reverse("records:feature", kwargs={"prefix": prefix, "reference": placeholder})
    return url[: -len(placeholder) - 1]


TEXT_KINDS = (CustomFieldKind.TEXT, CustomFieldKind.URL)
FILTERABLE_KINDS = (
    CustomFieldKind.CHOICE,
    CustomFieldKind.CHOICES,
    CustomFieldKind.MEMBER,
    *TEXT_KINDS,
)


def _custom_filters(params, *, fields, members) -> tuple:
    """cf_<key>=<choice or member id> or =none, for the choice and member custom fields;
    cf_<key>=<words> for text and URL fields (contains)."""
    found = []
    for field in fields:
        raw = params.get(field.form_name, "")
        if field.kind in TEXT_KINDS:
            text = raw.strip()[:QUERY_MAX_LENGTH]
            if text:
                found.append((field.pk, field.kind, text))
            continue
        if raw == NONE:
            found.append((field.pk, field.kind, NONE))
            continue
        wanted = parse_id(raw)
        if field.kind == CustomFieldKind.MEMBER:
            allowed = {m.pk for m in members}
        else:
            allowed = {c.pk for c in field.choices.all()}
        if wanted in allowed:
            found.append((field.pk, field.kind, wanted))
    return tuple(found)


def read_filters(params, *, statuses, members, tags, fields=()) -> BoardFilters:
    """Filters from GET parameters; a value that names nothing on this board is ignored."""
    status_id = parse_id(params.get("status"))
    assignee = params.get("assignee", "")
    assignee_id = parse_id(assignee)
    tag_id = parse_id(params.get("tag"))
    return BoardFilters(
        status_id=status_id if status_id in {s.pk for s in statuses} else None,
        assignee_id=assignee_id if assignee_id in {m.pk for m in members} else None,
        unassigned=assignee == "none",
        tag_id=tag_id if tag_id in {t.pk for t in tags} else None,
        query=params.get("q", "").strip()[:QUERY_MAX_LENGTH],
        custom=_custom_filters(params, fields=fields, members=members),
    )


def _filter_fields(workspace) -> list:
    """The features' custom fields the board filters by, each with its menu's options."""
    fields = custom.definitions(workspace.pk, RecordType.FEATURE)
    return [f for f in fields if f.kind in FILTERABLE_KINDS]


def board_context(request: HttpRequest) -> dict:
    """Everything the board page and its partials need; a fixed number of queries."""
    workspace, membership = request.workspace, request.membership
    statuses = list(
        WorkflowStatus.objects.filter(workspace=workspace, record_type=RecordType.FEATURE)
    )
    members = list(
        get_user_model()
        .objects.filter(memberships__workspace=workspace)
        .order_by("first_name", "email")
    )
    for member in members:
        member.display_name = person_name(
            member.first_name, member.last_name, member.email, member.username
        )
    tags = list(Tag.objects.filter(workspace=workspace))
    fields = _filter_fields(workspace)
    filters = read_filters(
        request.GET, statuses=statuses, members=members, tags=tags, fields=fields
    )
    custom_filters = [
        {
            "field": field,
            "selected": filters.custom_value(field.pk),
            "text": field.kind in TEXT_KINDS,
            "options": [(m.pk, m.display_name) for m in members]
            if field.kind == CustomFieldKind.MEMBER
            else [(c.pk, c.name) for c in field.choices.all()],
        }
        for field in fields
    ]
    columns = board_columns(workspace=workspace, filters=filters)
    can_edit = membership.can(Capability.EDIT_RECORDS)
    actions = bulk_actions_for(membership)
    options = CardOptions(
        feature_base=feature_base_url(workspace.prefix),
        can_edit=can_edit,
        can_select=bool(actions),
        decorations=card_decorations(
            workspace=workspace,
            feature_ids=[card.id for column in columns for card in column.cards],
        ),
    )
    bulk_forms = [
        (action, action.form_class(prefix=action.name, workspace=workspace, user=request.user))
        for action in actions
    ]
    return {
        # Each column with its cards' HTML, built in one go (see views/cards.py for why).
        "columns": [(column, render_cards(column.cards, options)) for column in columns],
        "releases": [column.release for column in columns],
        "statuses": statuses,
        "members": members,
        "tags": tags,
        "custom_filters": custom_filters,
        "filters": filters,
        "can_edit": can_edit,
        "can_select": bool(actions),
        "bulk_forms": bulk_forms,
        "max_selection": f"{MAX_SELECTION:,}",
        "board_url": reverse("records:board", kwargs={"prefix": workspace.prefix}),
        "card_count": sum(column.count for column in columns),
    }


@require_GET
@require_capability(Capability.VIEW)
def workspace_home(request: HttpRequest) -> HttpResponse:
    """/w/PLAT/, the workspace's own address, opens its board."""
    return redirect("records:board", prefix=request.workspace.prefix)


@require_GET
@require_capability(Capability.VIEW)
def board(request: HttpRequest) -> HttpResponse:
    context = board_context(request)
    if request.htmx and request.htmx.target == "board-columns":
        return render(request, "records/board.html#columns", context)
    return render(request, "records/board.html", context)


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def move_card(request: HttpRequest) -> HttpResponse:
    """Persist a drag or a keyboard move: feature, release, and the card it now follows."""
    workspace = request.workspace
    feature_id = parse_id(request.POST.get("feature"))
    release_id = parse_id(request.POST.get("release"))
    feature = Feature.objects.filter(workspace=workspace, pk=feature_id).first()
    if feature is None:
        return JsonResponse({"error": "That feature is not on this board."}, status=404)
    release = Release.objects.filter(workspace=workspace, pk=release_id).first()
    if release is None:
        return JsonResponse({"error": "Choose a release of this workspace."}, status=400)
    try:
        move_feature(
            feature=feature,
            release=release,
            after=request.POST.get("after"),
            before=request.POST.get("before"),
            user=request.user,
        )
    except MoveError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse(
        {
            "feature": feature.pk,
            "reference": feature.reference,
            "release": release.pk,
            "release_name": release.name,
            "rank": feature.rank,
        }
    )
