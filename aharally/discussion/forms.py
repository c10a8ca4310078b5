"""What the thread's forms accept; the services write (forms never save an instance)."""

from __future__ import annotations

from django import forms
from django.conf import settings


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3, "data-rich-text": ""}),
        error_messages={"required": "A comment needs some text."},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].max_length = settings.RICH_TEXT_MAX_LENGTH


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label="File",
        error_messages={
            "required": "Choose a file to attach.",
            "empty": "The file is empty.",
        },
    )
