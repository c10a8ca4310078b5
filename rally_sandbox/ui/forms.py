"""Forms of the sandbox's web UI: they collect WSAPI field values for the write services."""

from __future__ import annotations

from django import forms

from rally_sandbox.accounts.models import Project, User
from rally_sandbox.wsapi import multi_value
from rally_sandbox.wsapi.models import Artifact, CustomField, Release, State
from rally_sandbox.wsapi.registry import PORTFOLIO_LEVELS, SPECS
from rally_sandbox.wsapi.render import custom_attr

PARENT_CHOICES = 500


def _ref(obj, type_path: str) -> str:
    return f"/{SPECS[type_path].ref_segment}/{obj.pk}"


class ArtifactForm(forms.Form):
    """Name, state, release, project and parent of one artifact, as its type allows."""

    name = forms.CharField(max_length=256)
    state = forms.ChoiceField(required=False)
    release = forms.ChoiceField(required=False)
    project = forms.ChoiceField()
    parent = forms.ChoiceField(required=False)

    def __init__(self, *args, artifact: Artifact, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.artifact = artifact
        workspace = artifact.workspace
        type_path = artifact.type_path
        projects = Project.objects.filter(workspace=workspace, state="Open").order_by("name")
        self.fields["project"].choices = [(_ref(p, "Project"), p.name) for p in projects]
        releases = Release.objects.filter(workspace=workspace).select_related("project")
        self.fields["release"].choices = [("", "—")] + [
            (_ref(r, "Release"), f"{r.name} ({r.project.name})") for r in releases
        ]
        self.fields["state"].choices = self._state_choices(workspace, type_path)
        self.fields["parent"].choices = self._parent_choices(workspace, type_path)
        if "Release" not in SPECS[type_path].attributes:
            del self.fields["release"]
        if len(self.fields["parent"].choices) <= 1 and type_path != "HierarchicalRequirement":
            del self.fields["parent"]
        self.custom_names = self._add_custom_fields(workspace, type_path)
        if not self.is_bound:
            self.initial = self._initial()
        else:
            # What changed_data compares the custom fields with.
            self.initial.update(self._custom_initial())

    def _state_choices(self, workspace, type_path: str) -> list[tuple[str, str]]:
        spec = SPECS[type_path]
        if type_path.startswith("PortfolioItem/"):
            states = State.objects.filter(workspace=workspace, type_definition__type_path=type_path)
            return [("", "No Entry")] + [(_ref(s, "State"), s.name) for s in states]
        attr = spec.attributes.get("ScheduleState") or spec.attributes.get("State")
        values = attr.allowed_values(workspace) or []
        return [(value, value) for value in values]

    def _parent_choices(self, workspace, type_path: str) -> list[tuple[str, str]]:
        paths = [path for _, path, _ in PORTFOLIO_LEVELS]
        if type_path == "HierarchicalRequirement":
            # A story hangs under a Feature (PortfolioItem) or under another story (Parent):
            # features of the workspace, then stories of the same project (a demo-sized list).
            features = Artifact.objects.filter(workspace=workspace, type_path=paths[0])
            stories = Artifact.objects.filter(
                project_id=self.artifact.project_id, type_path="HierarchicalRequirement"
            ).exclude(pk=self.artifact.pk)
            candidates = [
                *features.order_by("formatted_number")[:PARENT_CHOICES],
                # The most recent stories, when a project holds more than a list can show.
                *reversed(stories.order_by("-formatted_number")[:PARENT_CHOICES]),
            ]
        elif type_path in paths and paths.index(type_path) + 1 < len(paths):
            level = paths[paths.index(type_path) + 1]
            candidates = Artifact.objects.filter(workspace=workspace, type_path=level).order_by(
                "formatted_number"
            )[:PARENT_CHOICES]
        else:
            return [("", "—")]
        return [("", "—")] + [
            (_ref(a, a.type_path), f"{a.formatted_id}: {a.name}") for a in candidates
        ]

    def _add_custom_fields(self, workspace, type_path: str) -> list[str]:
        """The workspace's custom fields of the type, sent as typed; Rally's checks apply."""
        names = []
        rows = CustomField.objects.filter(workspace=workspace, type_path=type_path)
        for row in rows.order_by("element_name"):
            common = {"label": row.name, "required": False}
            if row.attribute_type == "COLLECTION":
                # Sent as WSAPI takes a multi-value drop-down: refs to its allowed values.
                attr = custom_attr(row)
                choices = [
                    (multi_value.value_ref(attr, i), v) for i, v in enumerate(row.allowed_values)
                ]
                field = forms.MultipleChoiceField(
                    choices=choices, widget=forms.CheckboxSelectMultiple, **common
                )
            elif row.allowed_values:
                values = [("", "—")] + [(v, v) for v in row.allowed_values]
                field = forms.ChoiceField(choices=values, **common)
            elif row.attribute_type == "OBJECT":
                users = User.objects.filter(subscription_id=workspace.subscription_id)
                choices = [("", "—")] + [(f"/user/{u.pk}", u.email) for u in users]
                field = forms.ChoiceField(choices=choices, **common)
            elif row.attribute_type == "BOOLEAN":
                field = forms.ChoiceField(
                    choices=[("", "—"), ("true", "Yes"), ("false", "No")], **common
                )
            elif row.attribute_type == "DATE":
                field = forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
            elif row.attribute_type == "TEXT":
                field = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
            else:
                field = forms.CharField(**common)
            self.fields[row.element_name] = field
            names.append(row.element_name)
        return names

    def _custom_initial(self) -> dict:
        initial = {}
        for name in self.custom_names:
            value = (self.artifact.custom or {}).get(name)
            if value is None:
                continue
            field = self.fields[name]
            if isinstance(field, forms.MultipleChoiceField):
                by_name = {label: ref for ref, label in field.choices}
                value = [by_name[v] for v in value if v in by_name]
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(field.widget, forms.DateInput) and isinstance(value, str):
                value = value[:10]
            elif isinstance(value, int) and any(
                str(choice).startswith("/user/") for choice, _ in getattr(field, "choices", [])
            ):
                value = f"/user/{value}"
            initial[name] = value
        return initial

    def _initial(self) -> dict:
        artifact = self.artifact
        initial = {"name": artifact.name, "project": _ref(artifact.project, "Project")}
        initial.update(self._custom_initial())
        if artifact.type_path.startswith("PortfolioItem/"):
            initial["state"] = _ref(artifact.pi_state, "State") if artifact.pi_state_id else ""
        else:
            initial["state"] = artifact.schedule_state or artifact.state
        if artifact.release_id:
            initial["release"] = _ref(artifact.release, "Release")
        parent = artifact.portfolio_item or artifact.parent
        if parent is not None:
            initial["parent"] = _ref(parent, parent.type_path)
        return initial

    def wsapi_fields(self) -> dict:
        """The cleaned values as WSAPI fields for `save_object`."""
        data = self.cleaned_data
        type_path = self.artifact.type_path
        fields = {"Name": data["name"], "Project": data["project"]}
        state_attr = "ScheduleState" if "ScheduleState" in SPECS[type_path].attributes else "State"
        fields[state_attr] = data.get("state") or None
        if "release" in self.fields:
            fields["Release"] = data.get("release") or None
        if "parent" in self.fields:
            parent = data.get("parent") or None
            if type_path == "HierarchicalRequirement":
                is_story = bool(parent) and "/hierarchicalrequirement/" in parent
                fields["Parent"] = parent if is_story else None
                fields["PortfolioItem"] = None if is_story else parent
            else:
                fields["Parent"] = parent
        for name in self.custom_names:
            # Only what the person changed: an untouched field is not rewritten.
            if name in self.changed_data:
                value = data.get(name) or None
                if isinstance(self.fields[name], forms.MultipleChoiceField):
                    value = [{"_ref": ref} for ref in value or []]
                fields[name] = value
        return fields


class ChildForm(forms.Form):
    kind = forms.ChoiceField(choices=[("story", "Story"), ("task", "Task")])
    name = forms.CharField(max_length=256)


class NewItemForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("HierarchicalRequirement", "Story"),
            ("Defect", "Defect"),
            ("PortfolioItem/Feature", "Feature"),
        ]
    )
    name = forms.CharField(max_length=256)
