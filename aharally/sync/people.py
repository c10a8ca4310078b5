"""Who is who between aharally and Rally: one map per template group, used by every path.

The map (`people_map`) is what sends, the catch-up, imports, Compare with Rally and the
reviewers' decisions ask when an Owner goes out or comes back:

- a Rally user paired by hand with a member is that member (a hand-made pair wins over
  e-mail: the member's own address then pairs with nobody else);
- a Rally user an owner marked "nobody" is nobody here;
- otherwise a Rally user is the member of the group's workspaces with the same e-mail
  address (case aside), worked out when the map is used, so a member who joins later is
  matched at once.

Before the cluster has read the subscription's users the map is *unread*: the paths fall back
to matching by e-mail as they did before there was a map. Rally's users are read in the
cluster only (`read_people`), never from a web request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aharally.integrations.connection import client_for
from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, LogLevel
from aharally.rally.objects import RallyObject, RallyRef
from aharally.rally.query import all_of, any_of, where
from aharally.rally.sites import rally_site
from aharally.sync.models import (
    PeopleDirectory,
    PersonDecision,
    PreparedPair,
    RallyPerson,
    UnmatchedNotice,
)
from aharally.workspaces.models import Membership

PAGE_SIZE = 2000  # Rally's largest page: 5,000 people are read in three requests
# How old the map may grow before the catch-up reads the users again.
REFRESH_AFTER = timedelta(days=1)
# A read that started this long ago and never finished (a killed worker) may start again.
READ_TIMEOUT = timedelta(minutes=10)
_FETCH = ["ObjectID", "UserName", "EmailAddress", "DisplayName", "FirstName", "LastName"]
_OID = re.compile(r"/user/(\d+)")


class PeopleError(Exception):
    """A pair that can't be made; the message says why, for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- the map --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    rally_oid: int
    email: str
    display_name: str
    member_id: int | None
    member_email: str | None
    how: str  # "paired", "email", "nobody" or "" (no one with that address)


@dataclass
class PeopleMap:
    read: bool
    by_oid: dict[int, Person] = field(default_factory=dict)
    # A member's Rally user: (Rally ObjectID, display name), a hand-made pair first.
    rally_of_member: dict[int, tuple[int, str]] = field(default_factory=dict)
    # Group members by lower-cased e-mail: (user id, ids of the workspaces they belong to).
    members: dict[str, tuple[int, frozenset[int]]] = field(default_factory=dict)
    # The lower-cased addresses of the Rally users read.
    known: set[str] = field(default_factory=set)

    def _person(self, owner: Mapping) -> Person | None:
        oid = owner.get("ObjectID")
        if oid is None:
            found = _OID.search(str(owner.get("_ref", "")))
            oid = int(found.group(1)) if found else None
        person = self.by_oid.get(int(oid)) if oid is not None else None
        if person is None and owner.get("EmailAddress"):
            email = str(owner["EmailAddress"]).strip().lower()
            person = next((p for p in self.by_oid.values() if p.email.lower() == email), None)
        return person

    def in_aharally(self, owner: Mapping | None, email: str) -> str:
        """A Rally Owner's normalised value in aharally's terms: the paired member's e-mail,
        or Rally's own address when the user is paired with no one."""
        if not self.read or not isinstance(owner, Mapping):
            return email
        person = self._person(owner)
        return person.member_email if person is not None and person.member_email else email

    def member_id(self, email: str, workspace_id: int) -> int | None:
        """The member of `workspace_id` a normalised Owner value names, or None."""
        entry = self.members.get(email.strip().lower())
        if entry is None or workspace_id not in entry[1]:
            return None
        if self.read and entry[0] not in self.rally_of_member and email.lower() in self.known:
            # Rally's user with this address is nobody here, or is paired with someone else
            return None
        return entry[0]  # (a Rally user newer than the last read is matched by e-mail)

    def unmatched(self) -> list[int]:
        """Members with no Rally user (none before the users are read: not known yet)."""
        if not self.read:
            return []
        return sorted(uid for uid, _ws in self.members.values() if uid not in self.rally_of_member)

    def rally_user(self, member_email: str) -> RallyRef | None:
        """The Rally user a member's records go to as Owner, or None (no pair)."""
        entry = self.members.get(member_email.strip().lower())
        pair = self.rally_of_member.get(entry[0]) if entry else None
        if pair is None:
            return None
        oid, name = pair
        return RallyRef(ref=f"/user/{oid}", name=name or None)


def group_workspaces(source: Integration) -> list[int]:
    """The workspaces of a template group (the source's and those built on it)."""
    return _groups([source])[source.pk]


def _groups(sources) -> dict[int, list[int]]:
    groups = {source.pk: {source.workspace_id} for source in sources}
    derived = Integration.objects.filter(template_id__in=list(groups)).values_list(
        "template_id", "workspace_id"
    )
    for template_id, workspace_id in derived:
        groups[template_id].add(workspace_id)
    return {pk: sorted(ids) for pk, ids in groups.items()}


def _members(workspace_ids) -> dict[int, list[tuple[int, str]]]:
    """Members by workspace: {workspace id: [(user id, lower-cased e-mail)]}."""
    by_workspace: dict[int, list[tuple[int, str]]] = {}
    rows = Membership.objects.filter(workspace_id__in=set(workspace_ids)).values_list(
        "workspace_id", "user_id", "user__email"
    )
    for workspace_id, user_id, email in rows:
        if email:
            by_workspace.setdefault(workspace_id, []).append((user_id, email.strip().lower()))
    return by_workspace


def _group_members(group: list[int], by_workspace) -> dict[str, tuple[int, frozenset[int]]]:
    found: dict[str, tuple[int, set[int]]] = {}
    for workspace_id in group:
        for user_id, email in by_workspace.get(workspace_id, []):
            found.setdefault(email, (user_id, set()))[1].add(workspace_id)
    return {email: (uid, frozenset(ws)) for email, (uid, ws) in found.items()}


def _build(rows, members) -> PeopleMap:
    email_of = {uid: email for email, (uid, _ws) in members.items()}
    people = PeopleMap(read=bool(rows), members=members)
    hand = {member for _o, _e, _n, decision, member in rows if decision == PersonDecision.PAIRED}
    for oid, email, name, decision, member in rows:
        if decision == PersonDecision.PAIRED:
            how, member_id = "paired", member
        elif decision == PersonDecision.NOBODY:
            how, member_id = "nobody", None
        else:
            entry = members.get(email.strip().lower()) if email else None
            member_id = entry[0] if entry and entry[0] not in hand else None
            how = "email" if member_id else ""
        people.by_oid[oid] = Person(oid, email, name, member_id, email_of.get(member_id), how)
        people.known.add(email.strip().lower())
        if member_id and (how == "paired" or member_id not in people.rally_of_member):
            people.rally_of_member[member_id] = (oid, name)
    return people


_ROW = ("rally_oid", "email", "display_name", "decision", "member_id")


def people_map(integration: Integration) -> PeopleMap:
    """The map of the integration's template group (three queries, whatever its size)."""
    return people_maps([integration])[integration.source.pk]


def people_maps(integrations) -> dict[int, PeopleMap]:
    """The maps of several integrations' groups, by source id, in three queries."""
    sources = {integration.source.pk: integration.source for integration in integrations}
    groups = _groups(sources.values())
    by_workspace = _members(ws for group in groups.values() for ws in group)
    rows: dict[int, list] = {pk: [] for pk in sources}
    found = RallyPerson.objects.filter(integration_id__in=list(sources), gone=False)
    for integration_id, *row in found.values_list("integration_id", *_ROW):
        rows[integration_id].append(row)
    return {pk: _build(rows[pk], _group_members(groups[pk], by_workspace)) for pk in sources}


# -- reading Rally's users (in the cluster) ---------------------------------------------------


def directory_of(integration: Integration) -> PeopleDirectory:
    """The reading's state (unsaved when never read: a page shows it without writing)."""
    source = integration.source
    return PeopleDirectory.objects.filter(integration=source).first() or PeopleDirectory(
        integration=source
    )


def start_reading(integration: Integration) -> bool:
    """Mark a read as started unless one runs; whether the caller should enqueue it."""
    source = integration.source
    PeopleDirectory.objects.get_or_create(integration=source)
    stale = timezone.now() - READ_TIMEOUT
    return bool(
        PeopleDirectory.objects.filter(integration=source)
        .filter(Q(reading_since__isnull=True) | Q(reading_since__lt=stale))
        .update(reading_since=timezone.now())
    )


def needs_refresh(integration: Integration) -> bool:
    directory = PeopleDirectory.objects.filter(integration=integration.source).first()
    return (
        directory is None
        or directory.read_at is None
        or (directory.read_at < timezone.now() - REFRESH_AFTER)
    )


def read_people(integration: Integration) -> int:
    """Read the enabled Rally users who can see the group's projects, 2,000 a request, and
    store them; users Rally no longer lists are marked gone (their pairs are kept, unused).
    Returns how many were read.

    Who can see a project, as Rally decides it: its ProjectPermissions (Viewer, Editor,
    Admin), the administrators of its workspace and those of the subscription. Each
    permission carries its user's fields (a fetch hydrates the nested User), so 5,000 people
    with access cost three requests, plus one for each kind of administrator.
    """
    source = integration.source
    now = timezone.now()
    projects, workspaces = _group_scope(source)
    enabled = where("User.Disabled", "=", "false")
    client = client_for(source, interactive=False)
    seen: dict[int, dict] = {}
    try:
        if not projects:  # not set up yet: everyone in the subscription
            for user in client.query(
                "User", query=where("Disabled", "=", "false"), fetch=_FETCH, page_size=PAGE_SIZE
            ):
                _see(seen, user)
        else:
            for kind, scope, condition in [
                ("ProjectPermission", "Project", enabled),
                ("WorkspacePermission", "Workspace", all_of(where("Role", "=", "Admin"), enabled)),
            ]:
                ids = projects if kind == "ProjectPermission" else workspaces
                inside = any_of(*(where(f"{scope}.ObjectID", "=", oid) for oid in ids))
                for permission in client.query(
                    kind,
                    query=all_of(inside, condition),
                    fetch=["User", *_FETCH],
                    page_size=PAGE_SIZE,
                ):
                    _see(seen, permission.get("User"))
            admins = all_of(
                where("SubscriptionAdmin", "=", "true"), where("Disabled", "=", "false")
            )
            for user in client.query("User", query=admins, fetch=_FETCH, page_size=PAGE_SIZE):
                _see(seen, user)
    finally:
        client.close()
    _store(source, seen, now)
    PeopleDirectory.objects.filter(integration=source).update(
        reading_since=None, read_at=now, count=len(seen), problem=""
    )
    return len(seen)


def _group_scope(source: Integration) -> tuple[list[int], list[int]]:
    """The Rally projects and workspaces of a template group's integrations."""
    rows = Integration.objects.filter(Q(pk=source.pk) | Q(template_id=source.pk)).values_list(
        "rally_project_oid", "rally_workspace_oid"
    )
    projects = sorted({project for project, _ in rows if project})
    workspaces = sorted({workspace for _, workspace in rows if workspace})
    return projects, workspaces


def _see(seen: dict[int, dict], user) -> None:
    """Keep a user read (a User object, or a permission's nested User) by its ObjectID."""
    if not isinstance(user, Mapping | RallyObject):
        return
    oid = user.object_id if isinstance(user, RallyObject) else user.get("ObjectID")
    if oid is None:
        found = _OID.search(str(user.get("_ref", "")))
        oid = found.group(1) if found else None
    try:
        oid = int(oid)
    except (TypeError, ValueError):
        return  # not a user Rally could name as an Owner
    seen[oid] = {
        "user_name": str(user.get("UserName") or "")[:255],
        "email": str(user.get("EmailAddress") or "").strip()[:254],
        "display_name": _display_name(user)[:255],
    }


def _display_name(fields) -> str:
    name = fields.get("DisplayName") or " ".join(
        part for part in (fields.get("FirstName"), fields.get("LastName")) if part
    )
    return str(name or fields.get("UserName") or fields.get("EmailAddress") or "")


@transaction.atomic
def _store(source: Integration, seen: dict[int, dict], now) -> None:
    existing = {p.rally_oid: p for p in RallyPerson.objects.filter(integration=source)}
    new, changed = [], []
    for oid, values in seen.items():
        row = existing.get(oid)
        if row is None:
            new.append(RallyPerson(integration=source, rally_oid=oid, seen_at=now, **values))
            continue
        row.seen_at, row.gone = now, False
        for name, value in values.items():
            setattr(row, name, value)
        changed.append(row)
    RallyPerson.objects.bulk_create(new, batch_size=500)
    RallyPerson.objects.bulk_update(
        changed, ["user_name", "email", "display_name", "gone", "seen_at"], batch_size=500
    )
    RallyPerson.objects.filter(integration=source).exclude(rally_oid__in=list(seen)).update(
        gone=True
    )
    _apply_prepared(source)


def _apply_prepared(source: Integration) -> None:
    """Prepared pairs (the demo's) become pairs by hand for Rally users no one decided on."""
    prepared = PreparedPair.objects.filter(rally_site=source.rally_site)
    members = set(
        Membership.objects.filter(workspace_id__in=group_workspaces(source)).values_list(
            "user_id", flat=True
        )
    )
    for pair in prepared:
        if pair.member_id in members:
            RallyPerson.objects.filter(
                integration=source, email__iexact=pair.rally_email, decision=""
            ).update(decision=PersonDecision.PAIRED, member_id=pair.member_id)


def prepare_pair(*, rally_url: str, rally_email: str, member) -> None:
    PreparedPair.objects.update_or_create(
        rally_site=rally_site(rally_url),
        rally_email=rally_email.lower(),
        defaults={"member": member},
    )


# The sandbox's demo people and aharally's: the first send shows Owners going across.
DEMO_PAIRS = {"alice": "pm@example.com", "bob": "developer@example.com"}


def seed_demo_pairs(users: dict) -> list[str]:
    """The seeded demo's pairs, for the sandbox `make run` starts (records.hooks)."""
    for username, rally_email in DEMO_PAIRS.items():
        if username in users:
            prepare_pair(
                rally_url=settings.RALLY_OAUTH_URL, rally_email=rally_email, member=users[username]
            )
    return [
        "People: "
        + ", ".join(f"{name} is {email} in the sandbox" for name, email in DEMO_PAIRS.items())
    ]


def reading_failed(integration: Integration, message: str) -> None:
    PeopleDirectory.objects.filter(integration=integration.source).update(
        reading_since=None, problem=message[:2000]
    )


# -- an owner's decisions ----------------------------------------------------------------------


def _row(source: Integration, rally_oid) -> RallyPerson:
    try:
        oid = int(rally_oid)
    except (TypeError, ValueError):
        raise PeopleError("Choose a Rally user from the list.") from None
    row = RallyPerson.objects.filter(integration=source, rally_oid=oid).first()
    if row is None:
        raise PeopleError("That Rally user is not one of this subscription's users.")
    return row


def _member(source: Integration, member_id):
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        raise PeopleError("Choose a member from the list.") from None
    if not Membership.objects.filter(
        user_id=member_id, workspace_id__in=group_workspaces(source)
    ).exists():
        raise PeopleError(
            "Only members of this integration's workspaces can be paired with Rally users."
        )
    return get_user_model().objects.get(pk=member_id)


def decide(integration: Integration, *, rally_oid, choice: str, user) -> RallyPerson:
    """An owner's choice for a Rally user: a member's id (pair), "nobody", or "" (back to
    e-mail). Bad input raises PeopleError and changes nothing."""
    source = integration.source
    with transaction.atomic():
        row = _row(source, rally_oid)
        if choice == "nobody":
            row.decision, row.member = PersonDecision.NOBODY, None
        elif choice in ("", "email"):
            row.decision, row.member = "", None
        else:
            row.decision, row.member = PersonDecision.PAIRED, _member(source, choice)
        row.decided_by, row.decided_at = user, timezone.now()
        try:
            row.save(update_fields=["decision", "member", "decided_by", "decided_at"])
        except IntegrityError:
            raise PeopleError("A pair needs a member.") from None
    return row


# -- members with no Rally user ------------------------------------------------------------------


def unmatched_members(integration: Integration, people: PeopleMap | None = None):
    """Members of the group's workspaces no Rally user is paired with (when the map is read)."""
    people = people or people_map(integration)
    return list(get_user_model().objects.filter(pk__in=people.unmatched()).order_by("email"))


def say_unmatched_once(integration: Integration, email: str) -> None:
    """Log, once a day per person, that a member's records go without an Owner in Rally."""
    source = integration.source
    try:
        with transaction.atomic():
            UnmatchedNotice.objects.create(
                integration=source, email=email.lower(), day=timezone.localdate()
            )
    except IntegrityError:
        return  # said today already
    log_event(
        integration,
        LogLevel.WARNING,
        f"{email} has no Rally user: records assigned to them go without an Owner in Rally, "
        "and an Owner set in Rally is left as it is.",
        "Pair them with a Rally user under More options → People.",
    )
