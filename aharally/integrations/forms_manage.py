"""Forms of the integration settings pages: the client certificate and the report filters."""

from __future__ import annotations

from django import forms

from aharally.integrations.certificates import MAX_PEM_LENGTH
from aharally.integrations.models import LogLevel
from aharally.integrations.report import DisplayState


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back: a pasted private key is not re-shown,
    not even when the form comes back with an error."""

    def format_value(self, value):
        return None


class ClientCertificateForm(forms.Form):
    certificate = forms.CharField(
        label="Certificate (PEM)",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 8, "spellcheck": "false", "placeholder": "-----BEGIN CERTIFICATE-----"}
        ),
        help_text="The client certificate, then any intermediate certificates.",
    )
    certificate_file = forms.FileField(label="…or upload the certificate file", required=False)
    private_key = forms.CharField(
        label="Private key (PEM)",
        required=False,
        widget=SecretTextarea(
            attrs={
                "rows": 8,
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "-----BEGIN PRIVATE KEY-----",
            }
        ),
        help_text="Stored encrypted and never shown again.",
    )
    private_key_file = forms.FileField(label="…or upload the private key file", required=False)
    passphrase = forms.CharField(
        label="Passphrase",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Only if the private key is encrypted.",
    )

    def _pem(self, text_field: str, file_field: str, what: str) -> str:
        upload = self.cleaned_data.get(file_field)
        if upload:
            if upload.size > MAX_PEM_LENGTH:
                self.add_error(file_field, f"The {what} file is too large (over 64 KB).")
                return ""
            raw = upload.read()
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                self.add_error(file_field, f"The {what} file is not PEM text.")
                return ""
        return self.cleaned_data.get(text_field, "")

    def clean(self):
        cleaned = super().clean()
        cleaned["certificate_pem"] = self._pem("certificate", "certificate_file", "certificate")
        cleaned["private_key_pem"] = self._pem("private_key", "private_key_file", "private key")
        if not self.errors:
            if not cleaned["certificate_pem"].strip():
                self.add_error("certificate", "Paste or upload the certificate (PEM).")
            if not cleaned["private_key_pem"].strip():
                self.add_error("private_key", "Paste or upload the private key (PEM).")
        return cleaned


class ReportFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *DisplayState.choices])
    workspace = forms.ChoiceField(required=False, choices=[("", "Any workspace")])
    template = forms.ChoiceField(required=False, choices=[("", "Any template")])

    def __init__(self, *args, workspaces=(), templates=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workspace"].choices = [("", "Any workspace"), *workspaces]
        self.fields["template"].choices = [
            ("", "Any template"),
            ("none", "Standalone (no template)"),
            ("templates", "Templates only"),
            *templates,
        ]


class LogFilterForm(forms.Form):
    level = forms.ChoiceField(required=False, choices=[("", "All levels"), *LogLevel.choices])
