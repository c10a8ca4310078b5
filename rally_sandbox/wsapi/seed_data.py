"""Demo work items for the Engineering workspace: a small portfolio with stories and tasks."""

from __future__ import annotations

from .models import Artifact, Iteration, Release, State, Tag
from .registry import SPECS, spec_for_object
from .services import save_object

# (theme, initiative, feature, project, state, [(story, schedule state, points, [tasks])])
PORTFOLIO = [
    ("Customer self-service", "Self-service onboarding", "Single sign-on", "Platform",
     "Developing", [
         ("Sign in with the company identity provider", "In-Progress", 5,
          ["Register the SAML application", "Map identity claims"]),
         ("Sign out everywhere", "Defined", 3, []),
     ]),
    ("Customer self-service", "Self-service onboarding", "Account recovery",
     "Platform – Team A", "Discovering", [  # noqa: RUF001
         ("Reset a forgotten password by e-mail", "Completed", 3, ["Write the e-mail template"]),
         ("Lock an account after repeated failures", "Defined", 2, []),
     ]),
    ("Customer self-service", "Mobile first", "Offline mode", "Mobile", "Discovering", [
        ("Read saved items without a connection", "Defined", 8, []),
    ]),
]  # fmt: skip


def seed_demo_artifacts(context) -> None:
    """Create the demo portfolio once; later runs leave existing items alone."""
    workspace = context.workspaces["Engineering"]
    if Artifact.objects.filter(workspace=workspace).exists():
        return
    pm = context.users["pm@example.com"]
    developer = context.users["developer@example.com"]
    projects = {
        name: project for (ws, name), project in context.projects.items() if ws == "Engineering"
    }

    def create(type_path: str, project_name: str, **fields):
        fields["Project"] = projects[project_name]
        outcome = save_object(
            spec=SPECS[type_path], user=pm, workspace=workspace, fields=_refs(fields)
        )
        return outcome.obj

    for name in ("customer-facing", "security"):
        Tag.objects.get_or_create(workspace=workspace, name=name)
    themes: dict = {}
    initiatives: dict = {}
    for theme, initiative, feature, project, state, stories in PORTFOLIO:
        if theme not in themes:
            themes[theme] = create("PortfolioItem/Theme", "Platform", Name=theme)
        if initiative not in initiatives:
            initiatives[initiative] = create(
                "PortfolioItem/Initiative", "Platform", Name=initiative, Parent=themes[theme]
            )
        release = Release.objects.filter(project=projects[project]).order_by("start_date").first()
        feature_obj = create(
            "PortfolioItem/Feature",
            project,
            Name=feature,
            Parent=initiatives[initiative],
            State=State.objects.get(
                workspace=workspace, type_definition__type_path="PortfolioItem/Feature", name=state
            ),
            Release=release,
        )
        iteration = Iteration.objects.filter(project=projects[project], state="Committed").first()
        for story_name, schedule_state, points, tasks in stories:
            story = create(
                "HierarchicalRequirement",
                project,
                Name=story_name,
                PortfolioItem=feature_obj,
                ScheduleState=schedule_state,
                PlanEstimate=points,
                Owner=developer,
                Release=release,
                Iteration=iteration if schedule_state != "Defined" else None,
            )
            for task_name in tasks:
                create("Task", project, Name=task_name, WorkProduct=story, Estimate=4, ToDo=2)
    create(
        "Defect",
        "Platform",
        Name="Login page shows a blank screen on Safari",
        Severity="Major Problem",
        Priority="High Attention",
        State="Open",
    )


def _refs(fields: dict) -> dict:
    """Stored objects as the `{"_ref": ...}` values the write service takes."""
    out = {}
    for key, value in fields.items():
        if hasattr(value, "_meta"):
            value = {"_ref": f"/{spec_for_object(value).ref_segment}/{value.pk}"}
        out[key] = value
    return out
