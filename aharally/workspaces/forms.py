"""Forms of the workspace pages: creation, general settings, members, workflows, layouts."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from aharally.workspaces.models import (
    CHOICE_KINDS,
    CustomFieldChoice,
    CustomFieldKind,
    Role,
    StatusCategory,
    WorkflowStatus,
    Workspace,
)

COLOR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #4a90d9.")


class _UpperPrefixMixin:
    def clean_prefix(self) -> str:
        return self.cleaned_data["prefix"].strip().upper()


class WorkspaceCreateForm(_UpperPrefixMixin, forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["name", "prefix"]
        error_messages = {
            "prefix": {"unique": "This prefix is already used by another workspace."},
        }
        widgets = {"prefix": forms.TextInput(attrs={"style": "text-transform: uppercase"})}


class WorkspaceGeneralForm(_UpperPrefixMixin, forms.Form):
    name = forms.CharField(max_length=120)
    prefix = forms.CharField(
        label="Reference prefix",
        max_length=10,
        help_text="Starts every record reference, as in PLAT-12.",
    )

    def __init__(self, *args, prefix_locked: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if prefix_locked:
            self.fields["prefix"].disabled = True
            self.fields["prefix"].help_text = (
                "Fixed: records already carry references with this prefix, and links, "
                "emails and other tools quote them."
            )


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CONTRIBUTOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class StatusForm(forms.Form):
    name = forms.CharField(max_length=60)
    category = forms.ChoiceField(choices=StatusCategory.choices)
    color = forms.CharField(
        label="Colour",
        max_length=7,
        validators=[COLOR_VALIDATOR],
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"max_length": "Use a colour like #4a90d9."},
    )


class DeleteStatusForm(forms.Form):
    replacement = forms.ModelChoiceField(
        queryset=WorkflowStatus.objects.none(),
        required=False,
        label="Move its records to",
        error_messages={"invalid_choice": "Choose another status of the same workflow."},
    )

    def __init__(self, *args, status: WorkflowStatus, needs_replacement: bool, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["replacement"]
        field.queryset = WorkflowStatus.objects.filter(
            workspace_id=status.workspace_id, record_type=status.record_type
        ).exclude(pk=status.pk)
        # With no other status the service refuses the deletion with its own message.
        field.required = needs_replacement and field.queryset.exists()
        field.error_messages["required"] = (
            "Records are in this status: choose where to move them first."
        )


class LayoutForm(forms.Form):
    required = forms.MultipleChoiceField(
        label="Required fields",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "%(value)s can't be required for this record type."},
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["required"].choices = choices


class CustomFieldForm(forms.Form):
    """A new custom field; its kind is chosen once (values are stored by kind)."""

    name = forms.CharField(max_length=60)
    kind = forms.ChoiceField(choices=CustomFieldKind.choices, label="Kind")
    help_text = forms.CharField(max_length=200, required=False, label="Help text")
    required = forms.BooleanField(required=False, label="Required")
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Choices",
        help_text="For single and multiple choice fields: one choice a line.",
    )

    def clean(self):
        cleaned = super().clean()
        lines = [line.strip() for line in cleaned.get("choices", "").splitlines()]
        cleaned["choices"] = [line for line in lines if line]
        if cleaned.get("kind") in CHOICE_KINDS and not cleaned["choices"]:
            self.add_error("choices", "A choice field needs at least one choice: one a line.")
        return cleaned


class CustomFieldEditForm(forms.Form):
    name = forms.CharField(max_length=60)
    help_text = forms.CharField(max_length=200, required=False, label="Help text")
    required = forms.BooleanField(required=False, label="Required")


class ChoiceForm(forms.Form):
    name = forms.CharField(max_length=60, label="Choice")


class DeleteChoiceForm(forms.Form):
    """What becomes of the records that have a choice being deleted."""

    action = forms.ChoiceField(
        choices=[("replace", "Give them another choice"), ("clear", "Clear it from them")],
        widget=forms.RadioSelect,
        initial="replace",
        label="Records that have it",
    )
    replacement = forms.ModelChoiceField(
        queryset=CustomFieldChoice.objects.none(),
        required=False,
        label="Their new choice",
        error_messages={"invalid_choice": "Choose another choice of the same field."},
    )

    def __init__(self, *args, choice: CustomFieldChoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["replacement"].queryset = CustomFieldChoice.objects.filter(
            field_id=choice.field_id
        ).exclude(pk=choice.pk)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "replace" and not cleaned.get("replacement"):
            self.add_error("replacement", "Choose the choice these records take instead.")
        return cleaned
