"""The demo data `manage.py seed_demo` creates: two workspaces and four people."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from aharally.records.hooks import seed_demo_extras
from aharally.records.models import Epic, Feature, Initiative, Release, Requirement, Tag
from aharally.records.services import (
    create_epic,
    create_feature,
    create_initiative,
    create_release,
    create_requirement,
    create_workspace,
)
from aharally.workspaces.models import Membership, RecordType, Role, WorkflowStatus, Workspace

DEMO_PASSWORD = "aharally-demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


DEMO_USERS = [
    DemoUser("alice", Role.OWNER, "Alice Owner"),
    DemoUser("bob", Role.CONTRIBUTOR, "Bob Contributor"),
    DemoUser("carol", Role.REVIEWER, "Carol Reviewer"),
    DemoUser("dave", Role.VIEWER, "Dave Viewer"),
]

INITIATIVES = [
    "Grow self-serve revenue",
    "Enterprise readiness",
    "Delight mobile users",
    "Platform reliability",
]
EPICS = [
    "Single sign-on",
    "Usage-based billing",
    "Audit trail",
    "Offline mode",
    "Public API v2",
    "Observability",
]
FEATURE_VERBS = ["Add", "Improve", "Redesign", "Speed up", "Simplify", "Automate", "Export"]
FEATURE_NOUNS = [
    "onboarding checklist",
    "invoice emails",
    "SAML login",
    "role management",
    "search filters",
    "activity feed",
    "webhook retries",
    "CSV import",
    "dashboard widgets",
    "mobile sync",
    "rate limiting",
    "status page",
    "API tokens",
    "team invitations",
    "usage reports",
    "dark mode",
    "notification settings",
    "audit export",
    "backup restore",
    "release notes",
]
REQUIREMENT_TEMPLATES = [
    "Design the {0} screens",
    "Build the {0} backend",
    "Write acceptance tests for {0}",
    "Document {0}",
]
TAGS = ["customer-request", "tech-debt", "security", "growth", "ux"]


def ensure_users() -> dict[str, object]:
    users = {}
    User = get_user_model()
    for demo in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=demo.username,
            defaults={"email": demo.email, "first_name": demo.name.split()[0]},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        _ensure_verified_email(user)
        users[demo.username] = user
    return users


def _ensure_verified_email(user) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


def _ensure_workspace(name: str, prefix: str, users: dict) -> tuple[Workspace, bool]:
    workspace = Workspace.objects.filter(prefix=prefix).first()
    created = workspace is None
    if created:
        workspace = create_workspace(name=name, prefix=prefix, owner=users["alice"])
    for demo in DEMO_USERS:
        Membership.objects.get_or_create(
            workspace=workspace, user=users[demo.username], defaults={"role": demo.role}
        )
    return workspace, created


@transaction.atomic
def seed_demo() -> list[str]:
    """Create the demo once; later runs only top up users and memberships. Returns a summary."""
    rng = random.Random(42)  # the same demo on every machine
    users = ensure_users()
    company, company_new = _ensure_workspace("Company", "CO", users)
    platform, platform_new = _ensure_workspace("Platform", "PLAT", users)
    if company_new:
        for name in INITIATIVES:
            create_initiative(workspace=company, name=name, user=users["alice"])
    if platform_new:
        _seed_platform(platform, company, users, rng)
    extras = seed_demo_extras(users)
    return [
        f"Company: {Initiative.objects.filter(workspace=company).count()} initiatives",
        f"Platform: {Release.objects.filter(workspace=platform).count()} releases "
        f"(incl. parking lot), {Epic.objects.filter(workspace=platform).count()} epics, "
        f"{Feature.objects.filter(workspace=platform).count()} features, "
        f"{Requirement.objects.filter(workspace=platform).count()} requirements",
        *extras,
    ]


def _seed_platform(platform: Workspace, company: Workspace, users: dict, rng) -> None:
    alice = users["alice"]
    today = dt.date.today()
    releases = []
    for index in range(3):
        start = today + dt.timedelta(days=42 * index)
        ships = start + dt.timedelta(days=41)
        releases.append(
            create_release(
                workspace=platform,
                name=f"{ships:%Y.%m}",  # named for when it ships, as teams usually do
                start_date=start,
                release_date=ships,
                user=alice,
            )
        )
    parking_lot = Release.objects.get(workspace=platform, is_parking_lot=True)
    initiatives = list(Initiative.objects.filter(workspace=company).order_by("number"))
    epics = [
        create_epic(
            workspace=platform, name=name, initiative=initiatives[i % len(initiatives)], user=alice
        )
        for i, name in enumerate(EPICS)
    ]
    tags = [Tag.objects.create(workspace=platform, name=name) for name in TAGS]
    statuses = list(
        WorkflowStatus.objects.filter(workspace=platform, record_type=RecordType.FEATURE)
    )
    assignees = [users["alice"], users["bob"], None]
    for index in range(40):
        name = f"{FEATURE_VERBS[index % len(FEATURE_VERBS)]} {FEATURE_NOUNS[index % 20]}"
        epic = epics[index % len(epics)]
        feature = create_feature(
            workspace=platform,
            name=name,
            release=[*releases, parking_lot][index % 4],
            epic=epic,
            initiative=epic.initiative,
            status=statuses[min(index % 7, len(statuses) - 1)],
            assignee=assignees[index % 3],
            estimate=rng.choice([1, 2, 3, 5, 8, 13]),
            description=f"<p>Why: customers asked for {FEATURE_NOUNS[index % 20]}.</p>",
            tags=rng.sample(tags, k=rng.randint(0, 2)),
            user=alice,
        )
        # Alternating 3 and 2 requirements: 100 in all.
        for r in range(3 if index % 2 == 0 else 2):
            create_requirement(
                feature=feature,
                name=REQUIREMENT_TEMPLATES[r % 4].format(FEATURE_NOUNS[index % 20]),
                user=alice,
            )
