"""Web forms for review actions; services still decide what is allowed."""

from __future__ import annotations

from django import forms

from .models import Decision


class ReviewRequestForm(forms.Form):
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Note to reviewers"
    )


class SignOffForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    role = forms.ChoiceField(required=False, label="Sign as")
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required unless you approve.",
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password",
        help_text="Re-enter your password to sign electronically.",
    )

    def __init__(self, *args, roles: list[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", "(my review role)"), *roles]


class PromoteForm(forms.Form):
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Release note"
    )
    replaces = forms.CharField(required=False, widget=forms.HiddenInput)


class RollbackForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why roll back")
    replaces = forms.CharField(required=False, widget=forms.HiddenInput)


class ExplainRowForm(forms.Form):
    row = forms.IntegerField(min_value=0, label="Row of the evaluation set")
