"""Web forms for webhooks. They read what was typed; the services decide what is valid
(URL, event types), so the page and the API refuse the same things with the same words."""

from __future__ import annotations

import re

from django import forms

from .services import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS


class SubscriptionForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=URL_MAX_CHARS,
        widget=forms.URLInput(attrs={"placeholder": "https://ci.example.com/hooks/gatehouse"}),
        help_text="Where the events are sent, as HTTP POSTs signed with the webhook's secret.",
    )
    event_types = forms.CharField(
        label="Event types",
        initial="*",
        help_text='Separated by commas or spaces: an event type ("version.promoted"), a '
        'family ("version.*"), or "*" for every event.',
    )
    description = forms.CharField(
        label="Description", required=False, max_length=DESCRIPTION_MAX_CHARS
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text and isinstance(self.auto_id, str):
                field.widget.attrs["aria-describedby"] = f"{self.auto_id % name}-help"

    def clean_event_types(self) -> list[str]:
        return [part for part in re.split(r"[\s,]+", self.cleaned_data["event_types"]) if part]


class RedeliverForm(forms.Form):
    """One delivery by its id, or every failed one."""

    delivery = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    failed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        data = super().clean() or {}
        if not data.get("delivery") and not data.get("failed"):
            raise forms.ValidationError("Choose a delivery to send again, or every failed one.")
        return data
