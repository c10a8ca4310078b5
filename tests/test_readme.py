"""README.md and docs/ say what this version does: read here, against the code and the demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from aharally.records.bulk import MAX_SELECTION
from aharally.workspaces.models import Membership, Role

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in (ROOT / "docs").glob("*.md")}


def _table_after(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after `heading`, header and rule left out."""
    section = README.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


@pytest.mark.parametrize(
    "phrase",
    [
        "is being built",
        "not in this version",
        "come with the sync",
        "comes with the sync",
        "not built yet",
        "coming soon",
    ],
)
def test_the_readme_and_the_docs_never_say_the_sync_is_still_to_come(phrase):
    for name, text in {"README.md": README, **DOCS}.items():
        assert phrase not in text.lower(), (name, phrase)


def test_who_does_what_lists_every_role_once():
    roles = [row[0] for row in _table_after("## Who does what")]
    assert roles == [
        role.value for role in [Role.VIEWER, Role.REVIEWER, Role.CONTRIBUTOR, Role.OWNER]
    ]


@pytest.mark.django_db
def test_the_demo_logins_have_the_roles_the_readme_gives_them():
    call_command("seed_demo")
    documented = {email: role for email, role in _table_after("Demo logins")}
    seeded = dict(
        Membership.objects.filter(workspace__prefix="PLAT").values_list("user__email", "role")
    )
    assert documented == seeded


def test_every_document_and_bench_script_the_readme_names_exists():
    named = set(re.findall(r"`((?:docs|bench)/[\w./-]+\.(?:md|py))", README))
    assert {"docs/sync.md", "bench/soak.py"} <= named
    for path in named:
        assert (ROOT / path).exists(), path


def test_the_bulk_selection_limit_the_readme_gives_is_the_boards():
    assert f"up to {MAX_SELECTION:,} at a time" in README
