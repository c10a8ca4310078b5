"""The fault form of the demo page; the registry's own parser has the last word."""

from __future__ import annotations

from typing import Any

from django import forms

from rally_sandbox.faults.registry import KINDS, METHODS


class FaultForm(forms.Form):
    kind = forms.ChoiceField(choices=[(kind, kind.replace("_", " ")) for kind in KINDS])
    status = forms.IntegerField(required=False, min_value=400, max_value=599)
    retry_after = forms.IntegerField(required=False, min_value=0, label="Retry-After (s)")
    fraction = forms.FloatField(required=False, min_value=0, max_value=1)
    ms = forms.IntegerField(required=False, min_value=1, label="Latency (ms)")
    count = forms.IntegerField(
        required=False, min_value=1, help_text="Blank: once for status and drop, else until cleared"
    )
    method = forms.ChoiceField(
        required=False, choices=[("", "any method"), *[(m, m) for m in METHODS]]
    )
    path_contains = forms.CharField(required=False, max_length=200)

    def as_fault(self) -> dict[str, Any]:
        """The JSON form the admin API takes, with only what was filled in."""
        data = self.cleaned_data
        fault: dict[str, Any] = {"kind": data["kind"]}
        for name in ("status", "retry_after", "fraction", "ms", "count"):
            if data.get(name) is not None:
                fault[name] = data[name]
        match = {k: data[k] for k in ("method", "path_contains") if data.get(k)}
        if match:
            fault["match"] = match
        return fault
