"""Web forms for review actions; services still decide what is allowed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator

from reviews.models import COMMENT_MAX_CHARS, Decision


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

    def __init__(self, *args, roles: Sequence[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        role = cast(forms.ChoiceField, self.fields["role"])
        role.choices = [("", "(my review role)"), *roles]


class ProductionGuardForm(forms.Form):
    """Carries the production version the page showed ("" for none); the service refuses the
    change if production moved since. An empty value is allowed, a missing one is not."""

    replaces = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_replaces(self) -> str:
        if self.add_prefix("replaces") not in self.data:
            raise forms.ValidationError("Reload the page: it did not say what is in production.")
        return self.cleaned_data["replaces"]

    def add_error(self, field: str | None, error) -> None:
        # A hidden field shows no errors of its own: say them above the form.
        super().add_error(None if field == "replaces" else field, error)


class PromoteForm(ProductionGuardForm):
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Release note"
    )
    field_order = ["reason", "replaces"]


class RollbackForm(ProductionGuardForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why roll back")
    field_order = ["reason", "replaces"]


class ExplainRowForm(forms.Form):
    """One row of the version's evaluation data, by its number (0 is the first data row)."""

    row = forms.IntegerField(min_value=0, label="Row of the evaluation set")

    def __init__(self, *args: Any, rows: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if rows:
            field = self.fields["row"]
            field.validators.append(MaxValueValidator(rows - 1))
            field.widget.attrs["max"] = rows - 1
            field.help_text = f"0 to {rows - 1:,} ({rows:,} rows)."


class CommentForm(forms.Form):
    """A comment in a version's review conversation, a reply, or an answer to an objection."""

    body = forms.CharField(
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment",
        help_text=f"Plain text, at most {COMMENT_MAX_CHARS} characters; recorded in the audit log.",
    )
    reply_to = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    objection = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class ObjectionResolveForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="How it was answered",
    )
