"""Write services: create, update and delete Rally objects with Rally's validation.

The WSAPI views, /batch, the seed and the sandbox's web UI all write through these functions,
so every change is validated the same way and announced (after commit) to webhooks.
"""

from __future__ import annotations

import copy
import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from aharally.rally_sandbox.accounts.models import Project, User, Workspace, allocate

from .models import Artifact, RequiredField, State, Tag
from .query import oid_from_ref
from .registry import PORTFOLIO_PATHS, SPECS, Attr, TypeSpec, is_subtype, spec_for_object
from .render import custom_attr, render_full

IDENTITY_FIELDS = {
    "objectid", "formattedid", "objectuuid", "versionid", "creationdate", "lastupdatedate",
    "subscription", "_ref", "_refobjectuuid", "_refobjectname", "_type", "_objectversion",
}  # fmt: skip
ACCEPTED_STATES = {"Accepted", "Released"}


class WriteError(Exception):
    """The write was refused; `errors` holds Rally's messages (nothing was saved)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class WriteOutcome:
    obj: Any
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _pigeon_available() -> bool:
    return importlib.util.find_spec("aharally.rally_sandbox.pigeon.services") is not None


def notify_artifact_changed(*, action: str, artifact: Artifact, changes: dict, actor: User) -> None:
    """Tell the webhook app about a committed artifact change (it may not be installed)."""
    if not _pigeon_available():
        return

    def send() -> None:
        from aharally.rally_sandbox.pigeon import services as pigeon

        pigeon.artifact_changed(action=action, artifact=artifact, changes=changes, actor=actor)

    transaction.on_commit(send)


# Rendering before/after for the change set uses a fixed internal base URL; consumers that
# need their own host can rebuild refs from ObjectIDs.
CHANGE_BASE_URL = "http://rally-sandbox.invalid"


def _snapshot(obj) -> dict:
    return render_full(obj, base_url=CHANGE_BASE_URL)


def diff(before: dict, after: dict) -> dict[str, tuple[Any, Any]]:
    return {
        key: (before.get(key), value)
        for key, value in after.items()
        if not key.startswith("_") and before.get(key) != value
    }


# --- value conversion --------------------------------------------------------------------


class _Fields:
    """Converts request values for one object, collecting errors and warnings."""

    def __init__(self, spec: TypeSpec, user: User, workspace: Workspace, attrs: dict[str, Attr]):
        self.spec = spec
        self.user = user
        self.workspace = workspace
        self.attrs = attrs
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def label(self, attr: Attr) -> str:
        return f"{self.spec.element_name}.{attr.display}"

    def find(self, name: str) -> Attr | None:
        attr = self.attrs.get(name)
        if attr is not None:
            return attr
        lowered = name.lower()
        for candidate in self.attrs.values():
            if candidate.element_name.lower() in {lowered, f"c_{lowered}"}:
                return candidate
        return None

    def ignored(self, name: str) -> None:
        self.warnings.append(
            f"Ignored JSON element {self.spec.type_path.lower()}.{name} during processing "
            "of this request."
        )

    def convert(self, attr: Attr, value: Any) -> Any:
        kind = attr.attribute_type
        if value is None or (value == "" and kind not in {"STRING", "TEXT"}):
            return None
        if attr.is_object:
            return self.reference(attr, value)
        if attr.is_collection:
            return self.members(attr, value)
        allowed = attr.allowed_values(self.workspace)
        if allowed:
            for option in allowed:
                if str(value).lower() == option.lower():
                    return option
            self.errors.append(
                f'Validation error: {self.label(attr)} has an invalid value "{value}"; '
                f"allowed values are {', '.join(allowed)}"
            )
            return None
        if kind in {"STRING", "TEXT"}:
            if not isinstance(value, str | int | float):
                self.errors.append(f"Could not convert: {self.label(attr)} must be a string")
                return None
            text = str(value)
            if kind == "TEXT" and "<script" in text.lower():
                self.errors.append(
                    f"Validation error: {self.label(attr)} contained invalid input. "
                    "Search 'HTML Whitelist' at help.rallydev.com for details."
                )
            if kind == "STRING" and len(text) > 256:
                self.errors.append(
                    f"Validation error: {self.label(attr)} must not be longer than 256 characters"
                )
            return text
        if kind in {"INTEGER", "QUANTITY", "DECIMAL"}:
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None:
                self.errors.append(
                    f'Could not convert: Cannot convert "{value}" to a number for '
                    f"{self.label(attr)}"
                )
                return None
            if kind in {"QUANTITY"} and number < 0:
                self.errors.append(f"Validation error: {self.label(attr)} cannot be negative")
            return int(number) if kind == "INTEGER" else number
        if kind == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in {"true", "false"}:
                return str(value).lower() == "true"
            self.errors.append(
                f'Could not convert: Cannot convert "{value}" to a boolean for {self.label(attr)}'
            )
            return None
        if kind == "DATE":
            text = str(value)
            parsed = parse_datetime(text.replace("Z", "+00:00")) if "T" in text else None
            if parsed is None and parse_date(text) is not None:
                day = parse_date(text)
                parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if parsed is None:
                self.errors.append(
                    f'Could not convert: Cannot convert "{value}" to a date for {self.label(attr)}'
                )
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return value

    def reference(self, attr: Attr, value: Any):
        raw = value.get("_ref") if isinstance(value, dict) else value
        target = SPECS.get(attr.target or "")
        if target is None:
            self.errors.append(f"Could not set value for {attr.display}: unsupported reference")
            return None
        if attr.target == "State" and isinstance(raw, str) and "/" not in raw:
            # A portfolio item state may be given by name.
            state = State.objects.filter(
                workspace=self.workspace,
                type_definition__type_path=self.spec.type_path,
                name__iexact=raw.strip(),
            ).first()
            if state is None:
                self.errors.append(
                    f'Validation error: {self.label(attr)} has an invalid value "{raw}"'
                )
            return state
        oid = oid_from_ref(str(raw)) if raw is not None else None
        if oid is None:
            self.errors.append(f'Could not set value for {attr.display}: Invalid reference "{raw}"')
            return None
        key = {target.oid_field: oid} if isinstance(oid, int) else {"uuid": oid}
        obj = target.queryset().filter(**key).first()
        if obj is None:
            self.errors.append(
                f"Could not set value for {attr.display}: Cannot find object to read: {raw}"
            )
            return None
        obj_workspace = getattr(obj, "workspace_id", None)
        if isinstance(obj, Workspace):
            obj_workspace = obj.pk
        if obj_workspace is not None and obj_workspace != self.workspace.pk:
            self.errors.append(
                f"Could not set value for {attr.display}: {spec_for_object(obj).element_name} "
                f"{oid} is in a different workspace than {self.workspace.name}"
            )
            return None
        if isinstance(obj, User) and obj.subscription_id != self.workspace.subscription_id:
            self.errors.append(
                f"Could not set value for {attr.display}: Cannot find object to read"
            )
            return None
        return obj

    def members(self, attr: Attr, value: Any) -> list:
        items = value if isinstance(value, list) else [value]
        found = []
        for item in items:
            if isinstance(item, dict) and "_ref" not in item and attr.element_name == "Tags":
                name = str(item.get("Name") or "").strip()
                if not name:
                    self.errors.append("Validation error: Tag.Name should not be null")
                    continue
                tag, _ = Tag.objects.get_or_create(workspace=self.workspace, name=name)
                found.append(tag)
                continue
            obj = self.reference(attr, item)
            if obj is not None:
                found.append(obj)
        return found


# --- create and update ---------------------------------------------------------------------


def _attrs(spec: TypeSpec, workspace: Workspace) -> dict[str, Attr]:
    from .models import CustomField

    attrs = dict(spec.attributes)
    for custom in CustomField.objects.filter(workspace=workspace, type_path=spec.type_path):
        attrs[custom.element_name] = custom_attr(custom)
    return attrs


def _required(spec: TypeSpec, workspace: Workspace, attrs: dict[str, Attr]) -> list[Attr]:
    rules = set(
        RequiredField.objects.filter(workspace=workspace, type_path=spec.type_path).values_list(
            "element_name", flat=True
        )
    )
    return [attr for attr in attrs.values() if attr.required or attr.element_name in rules]


def _current(obj, attr: Attr):
    if attr.custom:
        return (obj.custom or {}).get(attr.element_name)
    if attr.is_collection or not attr.column:
        return None
    if attr.is_object:
        return getattr(obj, f"{attr.column}_id")
    return getattr(obj, attr.column)


def _set(obj, attr: Attr, value) -> None:
    if attr.custom:
        obj.custom = {**(obj.custom or {}), attr.element_name: value}
    elif attr.attribute_type in {"STRING", "TEXT", "STATE", "RATING"} and value is None:
        field = obj._meta.get_field(attr.column)
        setattr(obj, attr.column, None if field.null else "")
    else:
        setattr(obj, attr.column, value)


def save_object(
    *,
    spec: TypeSpec,
    user: User,
    workspace: Workspace,
    fields: dict[str, Any],
    obj=None,
    default_project: Project | None = None,
) -> WriteOutcome:
    """Create (obj=None) or update `obj` from WSAPI field values; raises WriteError."""
    if not isinstance(fields, dict):
        raise WriteError(["Cannot parse object: the type's value must be a JSON object"])
    creating = obj is None
    if creating and (spec.abstract or not spec.creatable):
        raise WriteError([f"Cannot create objects of type {spec.element_name}"])
    if not creating:
        spec = spec_for_object(obj, spec)
        if getattr(obj, "workspace_id", workspace.pk) != workspace.pk:
            workspace = obj.workspace
    attrs = _attrs(spec, workspace)
    conv = _Fields(spec, user, workspace, attrs)
    before = (
        _snapshot(obj)
        if (not creating and isinstance(obj, Artifact) and _pigeon_available())
        else None
    )
    if creating:
        obj = spec.model(**spec.filter) if spec.model is Artifact else spec.model()
        if hasattr(obj, "workspace_id"):
            obj.workspace = workspace
    m2m: dict[str, list] = {}
    given: set[str] = set()
    for name, value in fields.items():
        attr = conv.find(name)
        if attr is None:
            if name.lower() not in IDENTITY_FIELDS:
                conv.ignored(name)
            continue
        if attr.element_name == "Workspace":
            target = conv.reference(attr, value) if value is not None else None
            if target is not None and target.pk != workspace.pk:
                conv.errors.append(
                    f"Validation error: {spec.element_name}.Workspace cannot be changed"
                )
            continue
        if attr.read_only and not attr.writable_collection:
            if name.lower() not in IDENTITY_FIELDS:
                conv.ignored(name)
            continue
        converted = conv.convert(attr, value)
        given.add(attr.element_name)
        if attr.is_collection:
            m2m[attr.column or attr.element_name] = converted or []
            continue
        _set(obj, attr, converted)
    if creating:
        _defaults(obj, spec, user, workspace, default_project, given)
    _rules(obj, spec, conv, creating)
    for attr in _required(spec, workspace, attrs):
        value = _current(obj, attr)
        # "None" is the empty choice of a drop-down (RATING) such as Severity.
        if value is None or value == "" or (attr.attribute_type == "RATING" and value == "None"):
            conv.errors.append(f"Validation error: {conv.label(attr)} should not be null")
    if conv.errors:
        raise WriteError(conv.errors)
    _side_effects(obj, spec, before_state=before)
    with transaction.atomic():
        if creating:
            if isinstance(obj, Artifact):
                obj.formatted_prefix = spec.id_prefix
                obj.formatted_number = allocate(f"fid:{workspace.pk}:{spec.id_prefix}")[0]
                obj.rank = float(obj.formatted_number) if not obj.rank else obj.rank
            obj.save()
        else:
            obj.version += 1
            obj.save()
        for name, members in m2m.items():
            getattr(obj, name.lower()).set(members)
    outcome = WriteOutcome(obj=obj, warnings=conv.warnings)
    if isinstance(obj, Artifact):
        if creating:
            notify_artifact_changed(action="Created", artifact=obj, changes={}, actor=user)
        elif before is not None:
            outcome.changes = diff(before, _snapshot(obj))
            notify_artifact_changed(
                action="Updated", artifact=obj, changes=outcome.changes, actor=user
            )
    return outcome


def _defaults(obj, spec, user, workspace, default_project, given) -> None:
    if hasattr(obj, "project_id") and "Project" in spec.attributes and obj.project_id is None:
        project = default_project
        if project is None or project.workspace_id != workspace.pk:
            project = None
            if user.default_project_id:
                project = Project.objects.filter(
                    pk=user.default_project_id, workspace=workspace
                ).first()
            project = project or workspace.projects.filter(state="Open").order_by("name").first()
        obj.project = project
    if not isinstance(obj, Artifact):
        return
    obj.created_by = user
    if "ScheduleState" in spec.attributes and not obj.schedule_state:
        obj.schedule_state = "Defined"
    if spec.type_path == "Defect":
        obj.state = obj.state or "Submitted"
        obj.submitted_by = obj.submitted_by or user
        obj.opened_date = timezone.now()
        for column in ("priority", "severity", "environment", "resolution"):
            if not getattr(obj, column) and column.capitalize() not in given:
                setattr(obj, column, "None")
    if spec.type_path == "Task" and not obj.state:
        obj.state = "Defined"
    if spec.type_path in PORTFOLIO_PATHS and obj.pi_state_id:
        obj.state_changed_date = timezone.now()


def _rules(obj, spec: TypeSpec, conv: _Fields, creating: bool) -> None:
    project = getattr(obj, "project", None) if getattr(obj, "project_id", None) else None
    if project is not None and project.state == "Closed" and isinstance(obj, Artifact):
        conv.errors.append(
            f"Validation error: {spec.element_name}.Project cannot be a closed project"
        )
    if not isinstance(obj, Artifact):
        if (
            isinstance(obj, Project)
            and obj.parent_id is not None
            and (obj.parent.workspace_id != obj.workspace_id or _is_descendant(obj.parent, obj))
        ):
            conv.errors.append("Validation error: Project.Parent is not a valid parent")
        return
    if spec.type_path == "HierarchicalRequirement":
        if obj.parent_id is not None and obj.portfolio_item_id is not None:
            conv.errors.append(
                "Validation error: HierarchicalRequirement.parentArtifact should not be set if "
                "HierarchicalRequirement.Parent is set and vice versa"
            )
        if obj.parent_id is not None and _is_descendant(obj.parent, obj):
            conv.errors.append(
                "Validation error: HierarchicalRequirement.Parent cannot be the story itself or "
                "one of its children"
            )
        if obj.portfolio_item_id is not None and obj.portfolio_item.type_path != PORTFOLIO_PATHS[0]:
            conv.errors.append(
                "Validation error: HierarchicalRequirement.PortfolioItem must be a "
                f"{PORTFOLIO_PATHS[0].split('/')[1]}"
            )
    work_product = obj.work_product if obj.work_product_id else None
    if work_product is not None and not is_subtype(work_product.type_path, "SchedulableArtifact"):
        conv.errors.append("Validation error: Task.WorkProduct must be a story or a defect")
    state = obj.pi_state if obj.pi_state_id else None
    if state is not None and state.type_definition.type_path != spec.type_path:
        conv.errors.append(
            f'Validation error: {spec.element_name}.State "{obj.pi_state.name}" is not a '
            f"state of {spec.element_name}"
        )


def _is_descendant(candidate, obj) -> bool:
    """Whether `candidate` is `obj` or below it (a parent link would make a cycle)."""
    if obj.pk is None:
        return False
    seen = set()
    current = candidate
    while current is not None and current.pk not in seen:
        if current.pk == obj.pk:
            return True
        seen.add(current.pk)
        current = current.parent
    return False


def _side_effects(obj, spec: TypeSpec, *, before_state) -> None:
    if not isinstance(obj, Artifact):
        return
    now = timezone.now()
    if obj.schedule_state:
        states = obj.workspace.schedule_states
        index = states.index(obj.schedule_state) if obj.schedule_state in states else 0
        if index >= states.index("In-Progress") and obj.in_progress_date is None:
            obj.in_progress_date = now
        if obj.schedule_state in ACCEPTED_STATES:
            obj.accepted_date = obj.accepted_date or now
        else:
            obj.accepted_date = None
    if spec.type_path == "Defect":
        obj.closed_date = (obj.closed_date or now) if obj.state == "Closed" else None
    if spec.type_path in PORTFOLIO_PATHS and obj.pk is not None:
        old = Artifact.objects.filter(pk=obj.pk).values_list("pi_state_id", flat=True).first()
        if old != obj.pi_state_id:
            obj.state_changed_date = now


def delete_object(*, spec: TypeSpec, obj, user: User) -> None:
    if not spec_for_object(obj, spec).deletable:
        raise WriteError([f"Cannot delete objects of type {spec.element_name}"])
    snapshot = copy.copy(obj)
    try:
        with transaction.atomic():
            obj.delete()
    except Exception as error:  # ProtectedError: e.g. artifacts still in a release's project
        raise WriteError([f"Could not delete: {error.__class__.__name__}"]) from None
    if isinstance(snapshot, Artifact):
        notify_artifact_changed(action="Deleted", artifact=snapshot, changes={}, actor=user)


def rank(*, obj: Artifact, above=None, below=None, to: str | None = None) -> None:
    """Move `obj` in DragAndDropRank order among artifacts of its workspace."""
    peers = Artifact.objects.filter(workspace_id=obj.workspace_id).exclude(pk=obj.pk)
    if to:
        bounds = peers.aggregate(low=Min("rank"), high=Max("rank"))
        if to.upper() == "TOP":
            obj.rank = (bounds["low"] or 0) - 1
        else:
            obj.rank = (bounds["high"] or 0) + 1
    elif above is not None:
        lower = peers.filter(rank__lt=above.rank).aggregate(r=Max("rank"))["r"]
        obj.rank = (above.rank + lower) / 2 if lower is not None else above.rank - 1
    elif below is not None:
        higher = peers.filter(rank__gt=below.rank).aggregate(r=Min("rank"))["r"]
        obj.rank = (below.rank + higher) / 2 if higher is not None else below.rank + 1


def change_members(
    *, obj: Artifact, collection: str, members: list, add: bool, user: User
) -> WriteOutcome:
    before = _snapshot(obj) if _pigeon_available() else None
    with transaction.atomic():
        manager = getattr(obj, collection.lower())
        if add:
            manager.add(*members)
        else:
            manager.remove(*members)
        obj.version += 1
        obj.save(update_fields=["version", "last_update_date"])
    outcome = WriteOutcome(obj=obj)
    if before is not None:
        outcome.changes = diff(before, _snapshot(obj))
        notify_artifact_changed(action="Updated", artifact=obj, changes=outcome.changes, actor=user)
    return outcome
