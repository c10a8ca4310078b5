"""Required-field rules: a workspace administrator makes an attribute of a type required.

A default Rally workspace requires only what the type itself requires (Name, Project, a
release's dates…). These rules add to that, per workspace, type and attribute, as an
administrator's setting would; `save_object` enforces them on create and the schema reports
them as `Required`. The web page, the `required-fields` command and the admin API all call here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from rally_sandbox.accounts.models import Workspace

from .conversion import attributes_for
from .models import RequiredField
from .registry import SPECS, spec_for_name


class RuleError(Exception):
    """The rule cannot be added or removed; the message says why, for a person."""


class NoSuchRule(RuleError):
    """There is no rule to remove."""


@dataclass(frozen=True)
class Rule:
    workspace: str
    type_path: str
    element_name: str
    display: str

    def as_dict(self) -> dict:
        return {
            "workspace": self.workspace,
            "type": self.type_path,
            "field": self.element_name,
            "name": self.display,
        }


def creatable_type_paths() -> list[str]:
    """The types a rule can name: those that can be created through the WSAPI."""
    return sorted(path for path, spec in SPECS.items() if spec.creatable and not spec.abstract)


def find_workspace(name: str | None) -> Workspace:
    """The workspace of that name; without a name, the only one (or RuleError)."""
    names = sorted(Workspace.objects.values_list("name", flat=True))
    if name is None or not str(name).strip():
        if len(names) == 1:
            return Workspace.objects.get()
        raise RuleError(f"Name the workspace: one of {', '.join(names) or '(none)'}.")
    workspace = Workspace.objects.filter(name=str(name).strip()).first()
    if workspace is None:
        raise RuleError(
            f'There is no workspace "{name}": choose one of {", ".join(names) or "(none)"}.'
        )
    return workspace


def _resolve(workspace: Workspace, type_name: str, field_name: str):
    if not isinstance(type_name, str) or not type_name.strip():
        raise RuleError("Name the type, e.g. Defect or PortfolioItem/Feature.")
    if not isinstance(field_name, str) or not field_name.strip():
        raise RuleError("Name the field by its ElementName, e.g. Severity or PlannedEndDate.")
    spec = spec_for_name(type_name)
    if spec is None or spec.abstract or not spec.creatable:
        raise RuleError(
            f'"{type_name}" is not a type whose objects can be created: use one of '
            f"{', '.join(creatable_type_paths())}."
        )
    attrs = attributes_for(spec, workspace)
    wanted = field_name.strip().lower()
    attr = next(
        (
            candidate
            for candidate in attrs.values()
            if candidate.element_name.lower() in {wanted, f"c_{wanted}"}
        ),
        None,
    )
    if attr is None:
        raise RuleError(
            f'{spec.type_path} has no attribute "{field_name}" in workspace {workspace.name} '
            "(use the ElementName, e.g. PlannedEndDate)."
        )
    if attr.required:
        raise RuleError(f"{spec.type_path}.{attr.element_name} is always required.")
    if attr.read_only or attr.is_collection or attr.create_only:
        raise RuleError(
            f"{spec.type_path}.{attr.element_name} is not set by clients, so it cannot be required."
        )
    return spec, attr


def list_rules(*, workspace: Workspace | None = None) -> list[Rule]:
    """The rules, by workspace, type and attribute."""
    rows = RequiredField.objects.select_related("workspace").order_by(
        "workspace__name", "type_path", "element_name"
    )
    if workspace is not None:
        rows = rows.filter(workspace=workspace)
    rules = []
    for row in rows:
        spec = SPECS.get(row.type_path)
        attr = attributes_for(spec, row.workspace).get(row.element_name) if spec else None
        display = attr.display if attr is not None else row.element_name
        rules.append(Rule(row.workspace.name, row.type_path, row.element_name, display))
    return rules


def add_rule(*, workspace: Workspace, type_name: str, field_name: str) -> tuple[Rule, bool]:
    """Require the attribute on create; returns the rule and whether it is new."""
    spec, attr = _resolve(workspace, type_name, field_name)
    try:
        with transaction.atomic():
            _, created = RequiredField.objects.get_or_create(
                workspace=workspace, type_path=spec.type_path, element_name=attr.element_name
            )
    except IntegrityError:
        created = False
    return Rule(workspace.name, spec.type_path, attr.element_name, attr.display), created


def remove_rule(*, workspace: Workspace, type_name: str, field_name: str) -> Rule:
    """Stop requiring the attribute; RuleError when there was no such rule."""
    spec = spec_for_name(type_name) if isinstance(type_name, str) else None
    if spec is None:
        raise RuleError(
            f'"{type_name}" is not a type whose objects can be created: use one of '
            f"{', '.join(creatable_type_paths())}."
        )
    wanted = str(field_name).strip().lower()
    row = next(
        (
            row
            for row in RequiredField.objects.filter(workspace=workspace, type_path=spec.type_path)
            if row.element_name.lower() in {wanted, f"c_{wanted}"}
        ),
        None,
    )
    if row is None:
        raise NoSuchRule(
            f"No rule requires {spec.type_path}.{field_name} in workspace {workspace.name}."
        )
    row.delete()
    attr = attributes_for(spec, workspace).get(row.element_name)
    display = attr.display if attr is not None else row.element_name
    return Rule(workspace.name, row.type_path, row.element_name, display)
