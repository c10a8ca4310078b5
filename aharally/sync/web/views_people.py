"""More options → People: who is who between the workspace and Rally, for one template group.

Everyone in the workspace may look; owners pair people, say "nobody", refresh the list from
Rally (in the cluster; the page polls) and send new Owners. Every form also works as a plain
POST with a redirect; under HTMX a decision answers with its row and a notice, bad input with
its message (400).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from aharally.integrations.models import Integration
from aharally.records.board import parse_id
from aharally.sync import enqueue, people
from aharally.sync.models import PersonDecision, RallyPerson
from aharally.sync.outgoing import owners
from aharally.sync.web.integration_pages import integration_of, integration_url
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability, Membership

PAGE = "sync/people.html"
PAGE_SIZE = 50


def people_action(integration: Integration) -> tuple[str, str, str]:
    """The integration's More options entry (integrations.hooks): a page, so a GET."""
    return ("People", integration_url("sync:people", integration), "get")


def _members(integration: Integration) -> list:
    """The group's members an owner may pair with (one query)."""
    rows = Membership.objects.filter(
        workspace_id__in=people.group_workspaces(integration.source)
    ).select_related("user")
    return sorted({m.user_id: m.user for m in rows}.values(), key=lambda user: user.email)


def _line(person: RallyPerson, people_map: people.PeopleMap) -> dict:
    mapped = people_map.by_oid.get(person.rally_oid)
    return {
        "person": person,
        "how": mapped.how if mapped else "",
        "member_id": mapped.member_id if mapped else None,
    }


def _context(request: HttpRequest, integration: Integration, **extra) -> dict:
    people_map = people.people_map(integration)
    text = request.GET.get("q", "").strip()[:100]
    found = RallyPerson.objects.filter(integration=integration.source, gone=False)
    if text:
        found = found.filter(
            Q(display_name__icontains=text)
            | Q(email__icontains=text)
            | Q(user_name__icontains=text)
        )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "integration": integration,
        "directory": people.directory_of(integration),
        "page": page,
        "lines": [_line(person, people_map) for person in page.object_list],
        "text": text,
        "members": _members(integration),
        "unmatched": people.unmatched_members(integration, people_map),
        "can_change": request.membership.can(Capability.CONFIGURE),
        "tab": "integrations",
        **extra,
    }


@require_GET
@require_capability(Capability.VIEW)
def people_page(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    context = _context(request, integration)
    if request.htmx:  # the reading's poll, a search, a page
        return render(request, PAGE + "#directory", context)
    return render(request, PAGE, context)


@require_POST
@require_capability(Capability.CONFIGURE)
def refresh(request: HttpRequest, integration_id: int) -> HttpResponse:
    """Read Rally's users again, in the cluster; the page polls until they are in."""
    integration = integration_of(request, integration_id)
    if people.start_reading(integration):
        enqueue.enqueue(enqueue.READ_PEOPLE, integration.source.pk)
    if request.htmx:
        return render(request, PAGE + "#directory", _context(request, integration))
    messages.success(request, "Reading Rally's users: the list fills in shortly.")
    return redirect(integration_url("sync:people", integration))


def _rally_user_changed(before: people.PeopleMap, after: people.PeopleMap) -> list[int]:
    """Members whose Rally user is another one now (or none, or one at last)."""
    members = set(before.rally_of_member) | set(after.rally_of_member)
    return sorted(
        m
        for m in members
        if before.rally_of_member.get(m, (None,))[0] != after.rally_of_member.get(m, (None,))[0]
    )


def _said(person: RallyPerson, affected: int) -> str:
    name = person.display_name or person.email
    if person.decision == PersonDecision.PAIRED:
        said = f"{name} is {person.member.email} here."
    elif person.decision == PersonDecision.NOBODY:
        said = f"{name} is nobody here: an Owner naming them leaves the assignee as it is."
    else:
        said = f"{name} is matched by e-mail address again."
    if affected:
        said += (
            f" {affected} linked record{'s' if affected != 1 else ''} keep their Owner in Rally "
            "until you send the new one."
        )
    return said


@require_POST
@require_capability(Capability.CONFIGURE)
def decide(request: HttpRequest, integration_id: int) -> HttpResponse:
    """Pair a Rally user with a member, with nobody, or back to matching by e-mail."""
    integration = integration_of(request, integration_id)
    before = people.people_map(integration)
    try:
        person = people.decide(
            integration,
            rally_oid=request.POST.get("rally_oid"),
            choice=request.POST.get("member", ""),
            user=request.user,
        )
    except people.PeopleError as error:
        if not request.htmx:
            messages.error(request, error.message)
            return redirect(integration_url("sync:people", integration))
        context = _context(request, integration, message=error.message, level="error")
        unchanged = RallyPerson.objects.filter(
            integration=integration.source, rally_oid=parse_id(request.POST.get("rally_oid"))
        ).first()
        if unchanged is None:  # no row to answer with: the notice takes the message
            response = render(request, PAGE + "#notice", context, status=400)
            return reswap(retarget(response, "#people-notice"), "innerHTML")
        context["line"] = _line(unchanged, before)
        return render(request, PAGE + "#decided", context, status=400)
    after = people.people_map(integration)
    changed = _rally_user_changed(before, after)
    affected = len(owners.linked_records_of(integration, changed))
    message = _said(person, affected)
    if not request.htmx:
        messages.success(request, message)
        return redirect(integration_url("sync:people", integration))
    context = _context(
        request,
        integration,
        line=_line(person, after),
        message=message,
        level="success",
        changed=changed if affected else [],
    )
    return render(request, PAGE + "#decided", context)


@require_POST
@require_capability(Capability.CONFIGURE)
def send_owners(request: HttpRequest, integration_id: int) -> HttpResponse:
    """Send the new Owner of the linked records of the members whose pair changed."""
    integration = integration_of(request, integration_id)
    member_ids = {pk for pk in (parse_id(v) for v in request.POST.getlist("members")) if pk}
    allowed = set(
        Membership.objects.filter(
            user_id__in=member_ids, workspace_id__in=people.group_workspaces(integration.source)
        ).values_list("user_id", flat=True)
    )
    if not member_ids or allowed != member_ids:
        message, level = "Choose members of this integration's workspaces.", "error"
    else:
        count = owners.send_new_owners(
            integration=integration, member_ids=allowed, user=request.user
        )
        level = "success"
        message = (
            f"Sending the new Owner of {count} linked record{'s' if count != 1 else ''} "
            "(with approval in Integration updates when the integration asks for it)."
        )
    if not request.htmx:
        (messages.error if level == "error" else messages.success)(request, message)
        return redirect(integration_url("sync:people", integration))
    context = _context(request, integration, message=message, level=level)
    return render(request, PAGE + "#notice", context, status=400 if level == "error" else 200)
