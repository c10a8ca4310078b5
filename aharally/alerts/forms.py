from __future__ import annotations

from django import forms

from aharally.alerts.models import AlertKind


class PreferencesForm(forms.Form):
    """What a person is told; the view hands the cleaned data to `set_preferences`."""

    kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Tell me when",
    )
    email = forms.BooleanField(required=False, label="Also by e-mail")
    daily_digest = forms.BooleanField(
        required=False, label="One e-mail a day with what happened, instead of one each"
    )
