"""Demo data for the sandbox, added idempotently by `python -m rally_sandbox seed`.

Seeding is a list of steps run in order in one transaction. Another app adds its own step by
appending a dotted path to SEED_STEPS (a function taking the SeedContext); a step whose module
does not exist yet is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction

# Demo credentials. They are documented (docs/rally-sandbox.md) and grant access to demo data
# in a local sandbox only: they are not secrets.
DEMO_API_KEY = "_DemoKeyForTheRallySandbox000000000000000"
ADMIN_API_KEY = "_AdminKeyForTheRallySandbox00000000000000"
DEVELOPER_API_KEY = "_DeveloperKeyForTheRallySandbox0000000000"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    first_name: str
    last_name: str
    subscription_admin: bool
    role: str


DEMO_USERS = [
    DemoUser("pm@example.com", "pm-demo-password", "Pat", "Manager", True, "Product Manager"),
    DemoUser(
        "developer@example.com", "developer-demo-password", "Dana", "Developer", False, "Developer"
    ),
    DemoUser("admin@example.com", "admin-demo-password", "Alex", "Admin", True, "Administrator"),
]
DEMO_KEYS = {
    DEMO_API_KEY: "pm@example.com",
    DEVELOPER_API_KEY: "developer@example.com",
    ADMIN_API_KEY: "admin@example.com",
}

SEED_STEPS = [
    "rally_sandbox.seed.seed_accounts",
    "rally_sandbox.seed.seed_metadata",
    "rally_sandbox.seed.seed_timeboxes",
    "rally_sandbox.seed.seed_artifacts",
    # The OAuth client of the local aharally (written with the OAuth app).
    "rally_sandbox.oauth.seed.seed",
]


@dataclass
class SeedContext:
    subscription: object = None
    workspaces: dict = field(default_factory=dict)
    projects: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)


def _step(path: str):
    module_path, _, name = path.rpartition(".")
    if importlib.util.find_spec(module_path) is None:
        return None
    return getattr(importlib.import_module(module_path), name)


def run_seed() -> SeedContext:
    context = SeedContext()
    with transaction.atomic():
        for path in SEED_STEPS:
            step = _step(path)
            if step is not None:
                step(context)
    return context


WORKSPACES = {
    "Engineering": [
        ("Platform", None, "Open"),
        ("Platform – Team A", "Platform", "Open"),  # noqa: RUF001
        ("Platform – Team B", "Platform", "Open"),  # noqa: RUF001
        ("Mobile", None, "Open"),
        ("Legacy Portal", None, "Closed"),
    ],
    # A second workspace, so cross-workspace references can be shown to fail.
    "Operations": [("Support", None, "Open")],
}


# Operations shows Rally's optional extra ScheduleStates, one before Defined, one after Accepted.
EXTRA_SCHEDULE_STATES = {"Operations": ("Idea", "Released")}


def seed_accounts(context: SeedContext) -> None:
    from rally_sandbox.accounts.models import (
        Project,
        ProjectPermission,
        Subscription,
        User,
        Workspace,
        WorkspacePermission,
    )
    from rally_sandbox.accounts.services import create_api_key

    subscription, _ = Subscription.objects.get_or_create(
        subscription_id=209, defaults={"name": "Sandbox Subscription"}
    )
    context.subscription = subscription
    for ws_name, projects in WORKSPACES.items():
        workspace, _ = Workspace.objects.get_or_create(
            subscription=subscription,
            name=ws_name,
            defaults=dict(
                zip(
                    ("schedule_state_before", "schedule_state_after"),
                    EXTRA_SCHEDULE_STATES.get(ws_name, ("", "")),
                    strict=True,
                )
            ),
        )
        context.workspaces[ws_name] = workspace
        for name, parent_name, state in projects:
            parent = context.projects.get((ws_name, parent_name)) if parent_name else None
            project, _ = Project.objects.get_or_create(
                workspace=workspace, name=name, defaults={"parent": parent, "state": state}
            )
            context.projects[(ws_name, name)] = project
    engineering = context.workspaces["Engineering"]
    platform = context.projects[("Engineering", "Platform")]
    for demo in DEMO_USERS:
        user = User.objects.filter(username=demo.username).first()
        if user is None:
            user = User(
                subscription=subscription,
                username=demo.username,
                email=demo.username,
                first_name=demo.first_name,
                last_name=demo.last_name,
                display_name=f"{demo.first_name} {demo.last_name}",
                subscription_admin=demo.subscription_admin,
                role=demo.role,
                default_workspace=engineering,
                default_project=platform,
            )
            user.set_password(demo.password)
            user.save()
        context.users[demo.username] = user
    for key, username in DEMO_KEYS.items():
        create_api_key(user=context.users[username], name="Demo key", key=key)
    # The subscription administrators (Pat, Alex) see every project; the developer is an
    # Editor of the open ones, as a team member is.
    developer = context.users["developer@example.com"]
    for (ws_name, _name), project in context.projects.items():
        WorkspacePermission.objects.get_or_create(
            subscription=subscription,
            user=developer,
            workspace=context.workspaces[ws_name],
            defaults={"role": "User"},
        )
        if project.state == "Open":
            ProjectPermission.objects.get_or_create(
                subscription=subscription, user=developer, project=project,
                defaults={"role": "Editor"},
            )  # fmt: skip
    for project in context.projects.values():
        if project.owner_id is None:
            project.owner = context.users["pm@example.com"]
            project.save(update_fields=["owner"])


def seed_metadata(context: SeedContext) -> None:
    from rally_sandbox.wsapi.metadata import ensure_workspace_metadata

    for workspace in context.workspaces.values():
        ensure_workspace_metadata(workspace=workspace)


def seed_timeboxes(context: SeedContext) -> None:
    from rally_sandbox.wsapi.models import Iteration, Release

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    quarter_start = today - timedelta(days=30)
    for (ws_name, _name), project in context.projects.items():
        if ws_name != "Engineering" or project.state != "Open":
            continue
        workspace = context.workspaces[ws_name]
        for index, (name, state) in enumerate([("2026 Q4", "Active"), ("2027 Q1", "Planning")]):
            start = quarter_start + timedelta(days=91 * index)
            Release.objects.get_or_create(
                project=project,
                name=name,
                defaults={
                    "workspace": workspace,
                    "start_date": start,
                    "release_date": start + timedelta(days=90, seconds=-1),
                    "state": state,
                },
            )
        for index in range(3):
            start = today - timedelta(days=14) + timedelta(days=14 * index)
            Iteration.objects.get_or_create(
                project=project,
                name=f"Sprint {index + 1}",
                defaults={
                    "workspace": workspace,
                    "start_date": start,
                    "end_date": start + timedelta(days=14, seconds=-1),
                    "state": ["Accepted", "Committed", "Planning"][index],
                },
            )


def seed_artifacts(context: SeedContext) -> None:
    from rally_sandbox.wsapi.seed_data import seed_demo_artifacts

    seed_demo_artifacts(context)
