"""Forms for releases, initiatives and epics (the planning records above features)."""

from __future__ import annotations

from django import forms

from aharally.records.forms_base import WorkspaceRecordForm, initiative_labeller
from aharally.records.models import Epic, Initiative, Release

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DESCRIPTION_WIDGET = forms.Textarea(attrs={"rows": 6})


def _person_label(user) -> str:
    return user.get_full_name() or user.email or user.get_username()


def _record_label(record) -> str:
    return f"{record.reference} {record.name}"


class _PlanningForm(WorkspaceRecordForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        if "assignee" in fields:
            fields["assignee"].label_from_instance = _person_label
            fields["assignee"].queryset = fields["assignee"].queryset.order_by("email")
        for name in ("release", "initiative"):
            if name in fields:
                fields[name].label_from_instance = _record_label
        if "initiative" in fields:
            fields["initiative"].label_from_instance = initiative_labeller(self)


class ReleaseForm(_PlanningForm):
    class Meta:
        model = Release
        fields = ["name", "status", "start_date", "release_date", "is_parking_lot", "description"]
        widgets = {
            "start_date": DATE_WIDGET,
            "release_date": DATE_WIDGET,
            "description": DESCRIPTION_WIDGET,
        }
        help_texts = {
            "is_parking_lot": "Holds features not yet planned into a release; shown last.",
        }


class InitiativeForm(_PlanningForm):
    class Meta:
        model = Initiative
        fields = ["name", "status", "assignee", "start_date", "due_date", "description"]
        widgets = {
            "start_date": DATE_WIDGET,
            "due_date": DATE_WIDGET,
            "description": DESCRIPTION_WIDGET,
        }


class EpicForm(_PlanningForm):
    class Meta:
        model = Epic
        fields = [
            "name",
            "status",
            "release",
            "initiative",
            "assignee",
            "start_date",
            "due_date",
            "description",
        ]
        widgets = {
            "start_date": DATE_WIDGET,
            "due_date": DATE_WIDGET,
            "description": DESCRIPTION_WIDGET,
        }
