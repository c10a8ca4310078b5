"""Forms of the Rally integration wizard; choices fetched from Rally are passed in."""

from __future__ import annotations

from django import forms

from aharally.conflictpolicy.models import Policy, policy_of
from aharally.integrations.defaults import RELATIONSHIP_LINKS
from aharally.integrations.models import (
    DEFAULT_RALLY_URL,
    DISCUSSION_FIELDS,
    DISCUSSION_OFF,
    Direction,
    IncomingMode,
    Integration,
    OutgoingMode,
)
from aharally.integrations.url_safety import UnsafeRallyURL, validate_rally_url
from aharally.workspaces.models import RecordType


class WizardForm(forms.Form):
    label_suffix = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_suffix = ""  # Form.__init__ would set ":" over the class attribute
        for field in self.fields.values():
            # Say "at most 120 characters" rather than let the browser cut a paste silently.
            field.widget.attrs.pop("maxlength", None)


class NameForm(WizardForm):
    name = forms.CharField(
        max_length=120,
        label="Integration name",
        error_messages={"required": "Give the integration a name."},
    )
    template = forms.ModelChoiceField(
        queryset=Integration.objects.none(),
        required=False,
        label="Integration template",
        empty_label="No template",
        help_text=(
            "An integration built on a template takes its account, credentials, mappings, "
            "status mapping, enable modes and client certificate from it, and follows its "
            "changes. You then only choose the Rally project."
        ),
    )

    def __init__(self, *args, templates=None, allow_template: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if allow_template and templates is not None:
            self.fields["template"].queryset = templates
            self.fields["template"].label_from_instance = lambda t: f"{t.name} ({t.workspace})"
        else:
            del self.fields["template"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the integration a name.")
        return name


class AccountForm(WizardForm):
    rally_url = forms.CharField(
        max_length=200,
        label="Rally URL",
        initial=DEFAULT_RALLY_URL,
        help_text="The address you use to open Rally. It cannot change once the integration "
        "has sent or linked records.",
    )

    def clean_rally_url(self) -> str:
        try:
            return validate_rally_url(self.cleaned_data["rally_url"])
        except UnsafeRallyURL as error:
            raise forms.ValidationError(str(error)) from None


class ApiKeyForm(WizardForm):
    api_key = forms.CharField(
        max_length=200,
        label="Rally API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Create one in Rally under your profile → API Keys (full access). It is "
        "stored encrypted and never shown again.",
    )

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"].strip()
        if len(key) < 10 or any(c.isspace() for c in key):
            raise forms.ValidationError("That does not look like a Rally API key.")
        return key


class OAuthClientForm(WizardForm):
    client_id = forms.CharField(max_length=200, label="OAuth client ID")
    client_secret = forms.CharField(
        max_length=500,
        label="OAuth client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted, sent only to this Rally, and never shown again.",
    )

    def clean_client_id(self) -> str:
        value = self.cleaned_data["client_id"].strip()
        if not value or any(c.isspace() for c in value):
            raise forms.ValidationError("Enter the client ID Rally shows for the OAuth client.")
        return value

    def clean_client_secret(self) -> str:
        value = self.cleaned_data["client_secret"].strip()
        if len(value) < 8:
            raise forms.ValidationError("Enter the client secret Rally shows for the client.")
        return value


class WorkspaceForm(WizardForm):
    workspace = forms.TypedChoiceField(
        coerce=int, label="Rally workspace", widget=forms.RadioSelect
    )

    def __init__(self, *args, workspaces=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.names = {w.object_id: w.name for w in workspaces}
        self.fields["workspace"].choices = [(w.object_id, w.name) for w in workspaces]


class ProjectForm(WizardForm):
    project = forms.TypedChoiceField(coerce=int, label="Rally project", widget=forms.RadioSelect)
    exclude_child_updates = forms.BooleanField(required=False, label="Exclude child updates")

    def __init__(self, *args, projects=(), overlaps=None, **kwargs):
        super().__init__(*args, **kwargs)
        # (depth, project) pairs from the tree, depth-first.
        self.names = {p.object_id: p.name for _, p in projects}
        overlaps = overlaps or {}
        self.fields["project"].choices = [
            (
                p.object_id,
                "\u2003" * depth
                + p.name
                + (f" — {'; '.join(overlaps[p.object_id])}" if p.object_id in overlaps else ""),
            )
            for depth, p in projects
        ]


class AddMappingForm(WizardForm):
    record_type = forms.ChoiceField(choices=RecordType.choices, label="aharally record")
    rally_type = forms.CharField(max_length=100, label="Rally type")


# The *Comments* and *Attachments* lines: a direction of their own, "Off" included.
DISCUSSION_CHOICES = [
    (Direction.BOTH, "Both ways"),
    (Direction.TO_RALLY, "To Rally"),
    (Direction.TO_AHARALLY, "To aharally"),
    (DISCUSSION_OFF, "Off"),
]
DISCUSSION_LABELS = {"comments": "Comments", "attachments": "Attachments"}
DISCUSSION_RALLY = {"comments": "Discussion", "attachments": "Attachments"}


def discussion_directions(record_mapping) -> dict[str, str]:
    """The record mapping's *Comments* and *Attachments* directions (no line: both ways)."""
    found = {fm.field: fm.direction for fm in record_mapping.field_mappings.all()}
    return {field: found.get(field, Direction.BOTH) for field in DISCUSSION_FIELDS}


class FieldDirectionsForm(WizardForm):
    """One select per mapped field; "Not synced" removes the field mapping. Then the
    *Comments* and *Attachments* lines (both ways, to Rally, to aharally, off)."""

    def __init__(self, *args, record_mapping, **kwargs):
        super().__init__(*args, **kwargs)
        self.record_mapping = record_mapping
        for field_mapping in record_mapping.field_mappings.all():
            if field_mapping.field in DISCUSSION_FIELDS:
                continue
            choices = list(Direction.choices)
            if field_mapping.field not in ("name", "status"):
                choices.append(("", "Not synced"))
            self.fields[field_mapping.field] = forms.ChoiceField(
                choices=choices,
                required=False,
                initial=field_mapping.direction,
                label=field_mapping.field,
            )
        for field, direction in discussion_directions(record_mapping).items():
            self.fields[field] = forms.ChoiceField(
                choices=DISCUSSION_CHOICES,
                required=False,
                initial=direction,
                label=DISCUSSION_LABELS[field],
            )


class ConflictPoliciesForm(WizardForm):
    """One select per two-way field: who wins when both sides changed it."""

    def __init__(self, *args, record_mapping, **kwargs):
        super().__init__(*args, **kwargs)
        for field_mapping in record_mapping.field_mappings.all():
            if field_mapping.field in DISCUSSION_FIELDS:
                continue  # no conflict: a comment is never changed on both sides
            self.fields[field_mapping.field] = forms.ChoiceField(
                choices=Policy.choices,
                required=False,
                initial=policy_of(field_mapping),
                label=f"When both sides changed {field_mapping.field}",
            )


LINK_CHOICES = [
    (f"{p}:{c}", f"{RecordType(p).label} → {RecordType(c).label}") for p, c in RELATIONSHIP_LINKS
]


class RelationshipLinksForm(WizardForm):
    links = forms.MultipleChoiceField(
        choices=LINK_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Relationship links",
    )

    def pairs(self) -> list[tuple[str, str]]:
        return [tuple(value.split(":", 1)) for value in self.cleaned_data["links"]]


class EnableForm(WizardForm):
    outgoing_mode = forms.ChoiceField(
        choices=OutgoingMode.choices,
        widget=forms.RadioSelect,
        label="Outgoing changes",
        initial=OutgoingMode.AUTOMATIC,
    )
    incoming_mode = forms.ChoiceField(
        choices=IncomingMode.choices,
        widget=forms.RadioSelect,
        label="Incoming records",
        initial=IncomingMode.AUTOMATIC,
    )
