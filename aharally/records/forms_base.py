"""The base of every record form: workspace scoping, the custom layout, sanitising.

Forms here never write to their instance (see `_post_clean`): views take `form.changes()`
or `form.cleaned_data` to the services, which keep the record's history.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db.models import Q

from aharally.records import custom
from aharally.records.models import Epic, Initiative, Release, Tag
from aharally.records.richtext import sanitize_html
from aharally.workspaces.access import visible_workspaces
from aharally.workspaces.models import RequiredField, WorkflowStatus, Workspace

LAYOUT_REQUIRED_MESSAGE = "This field is required by the workspace's custom layout."
HIDDEN_INITIATIVE_LABEL = "An initiative in a workspace you don't belong to"
DATE_PAIRS = [("start_date", "due_date"), ("start_date", "release_date")]


class WorkspaceRecordForm(forms.ModelForm):
    """A ModelForm for one workspace's record type; needs `workspace=` and `user=`."""

    def __init__(self, *args, workspace: Workspace, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.user = user
        record_type = self._meta.model.record_type
        fields = self.fields
        if "status" in fields:
            fields["status"].queryset = WorkflowStatus.objects.filter(
                workspace=workspace, record_type=record_type
            )
            fields["status"].error_messages["invalid_choice"] = (
                "Choose a status of this workspace's workflow."
            )
        if "release" in fields:
            fields["release"].queryset = Release.objects.filter(workspace=workspace)
            fields["release"].error_messages["invalid_choice"] = (
                "Choose a release of this workspace."
            )
        if "epic" in fields:
            fields["epic"].queryset = Epic.objects.filter(workspace=workspace)
            fields["epic"].error_messages["invalid_choice"] = "Choose an epic of this workspace."
        self.hidden_initiative_id = None
        if "initiative" in fields:
            # Initiatives may live in another workspace, but only one the user belongs to.
            field = fields["initiative"]
            visible = Initiative.objects.filter(workspace__in=visible_workspaces(user))
            field.queryset = visible.select_related("workspace")
            field.error_messages["invalid_choice"] = (
                "Choose an initiative from a workspace you belong to."
            )
            current = getattr(self.instance, "initiative_id", None)
            if current and not visible.filter(pk=current).exists():
                # Linked to an initiative this user may not see: shown as such and kept as it
                # is (a disabled field keeps its initial value whatever the browser submits).
                self.hidden_initiative_id = current
                field.queryset = Initiative.objects.filter(
                    Q(workspace__in=visible_workspaces(user)) | Q(pk=current)
                ).select_related("workspace")
                field.disabled = True
                field.help_text = (
                    "Linked by someone who can see it; only members of its workspace can change it."
                )
        if "assignee" in fields:
            fields["assignee"].queryset = get_user_model().objects.filter(
                memberships__workspace=workspace
            )
            fields["assignee"].error_messages["invalid_choice"] = (
                "Choose a member of this workspace."
            )
        if "tags" in fields:
            fields["tags"].queryset = Tag.objects.filter(workspace=workspace)
        if "estimate" in fields:
            fields["estimate"].validators.append(
                MinValueValidator(0, message="An estimate cannot be negative.")
            )
            fields["estimate"].widget.attrs["min"] = 0
            if isinstance(self.initial.get("estimate"), Decimal):
                # As entered: 13, not the database's 13.00 (normalize alone gives 1E+1 for 10).
                self.initial["estimate"] = format(self.initial["estimate"].normalize(), "f")
        for field in fields.values():
            # The browser's maxlength cuts a long paste without a word; the server's
            # max-length validator says "at most 255 characters (it has 300)" instead.
            if isinstance(field, forms.CharField) and field.max_length:
                field.widget.attrs.pop("maxlength", None)
        if "description" in fields:
            # One editor everywhere (static/js/app.js); the model's help text is for developers.
            fields["description"].widget.attrs["data-rich-text"] = ""
            fields["description"].help_text = ""
            fields["description"].max_length = settings.RICH_TEXT_MAX_LENGTH
            fields["description"].validators.append(
                MaxLengthValidator(settings.RICH_TEXT_MAX_LENGTH)
            )
        required = RequiredField.objects.filter(
            workspace=workspace, record_type=record_type
        ).values_list("field_name", flat=True)
        for name in required:
            if name in fields and not fields[name].required:
                fields[name].required = True
                fields[name].error_messages["required"] = LAYOUT_REQUIRED_MESSAGE
        self._add_custom_fields(record_type)

    def _add_custom_fields(self, record_type: str) -> None:
        """The workspace's custom fields of this record type, after the built-in ones."""
        self.custom_definitions = custom.definitions(self.workspace.pk, record_type)
        values = custom.read_values(self.instance.pk, self.custom_definitions)
        # One query for the members whatever the number of member fields.
        members = (
            custom.workspace_members(self.workspace.pk)
            if any(d.kind == custom.K.MEMBER for d in self.custom_definitions)
            else []
        )
        for definition in self.custom_definitions:
            name = definition.form_name
            field = custom.form_field(definition, workspace_id=self.workspace.pk, members=members)
            if definition.required:
                field.required = True
                field.error_messages["required"] = LAYOUT_REQUIRED_MESSAGE
            self.fields[name] = field
            if self.instance.pk is not None:
                self.initial[name] = custom.initial(definition, values[name])

    @property
    def custom_fields(self) -> list:
        """The bound custom fields, for templates that lay out the built-in ones by hand."""
        return [self[definition.form_name] for definition in self.custom_definitions]

    def clean_description(self) -> str:
        return sanitize_html(self.cleaned_data.get("description", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for definition in self.custom_definitions:
            name = definition.form_name
            if name in cleaned:
                cleaned[name] = custom.clean_value(definition, cleaned[name])
        for start, end in DATE_PAIRS:
            first, last = cleaned.get(start), cleaned.get(end)
            if first and last and last < first:
                self.add_error(end, "This date must not be before the start date.")
        return cleaned

    def _post_clean(self) -> None:
        # Deliberately skip construct_instance(): the services apply changes, so that
        # history sees the old values. Field validators have already run.
        pass

    def changes(self) -> dict[str, Any]:
        """The submitted fields whose values differ from the record's."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


def initiative_labeller(form: WorkspaceRecordForm):
    """Labels for the initiative select that never name an initiative the user may not see."""

    def label(initiative) -> str:
        if initiative.pk == form.hidden_initiative_id:
            return HIDDEN_INITIATIVE_LABEL
        return f"{initiative.reference} {initiative.name}"

    return label
