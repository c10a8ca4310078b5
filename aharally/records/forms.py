"""Forms for features and requirements, shared by the drawer and the create/edit pages."""

from __future__ import annotations

from django import forms

from aharally.records.forms_base import WorkspaceRecordForm, initiative_labeller
from aharally.records.models import Feature, Requirement

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _person_label(user) -> str:
    return user.get_full_name() or user.email or user.get_username()


def _record_label(record) -> str:
    return f"{record.reference} {record.name}"


class _LabelledChoicesMixin:
    """Readable labels in the selects: references for records, names or emails for people."""

    def _label_choices(self) -> None:
        fields = self.fields
        if "assignee" in fields:
            fields["assignee"].label_from_instance = _person_label
            fields["assignee"].queryset = fields["assignee"].queryset.order_by("email")
        for name in ("release", "epic", "initiative"):
            if name in fields:
                fields[name].label_from_instance = _record_label
        if "initiative" in fields:
            fields["initiative"].label_from_instance = initiative_labeller(self)


class FeatureForm(_LabelledChoicesMixin, WorkspaceRecordForm):
    class Meta:
        model = Feature
        fields = [
            "name",
            "status",
            "release",
            "epic",
            "initiative",
            "assignee",
            "tags",
            "start_date",
            "due_date",
            "estimate",
            "description",
        ]
        widgets = {
            "tags": forms.CheckboxSelectMultiple,
            "start_date": DATE_WIDGET,
            "due_date": DATE_WIDGET,
            "description": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._label_choices()
        if "release" in self.fields:
            # A feature always sits in a release: no empty choice in the select.
            self.fields["release"].empty_label = None


class RequirementForm(_LabelledChoicesMixin, WorkspaceRecordForm):
    class Meta:
        model = Requirement
        fields = [
            "name",
            "status",
            "assignee",
            "tags",
            "start_date",
            "due_date",
            "estimate",
            "description",
        ]
        widgets = {
            "tags": forms.CheckboxSelectMultiple,
            "start_date": DATE_WIDGET,
            "due_date": DATE_WIDGET,
            "description": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._label_choices()
