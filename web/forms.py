"""Web forms for review actions; services still decide what is allowed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator

from events.services import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS
from registry.roles import Role
from reviews.models import COMMENT_MAX_CHARS, Decision, ReviewPolicy


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
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password", "aria-describedby": "signoff-meaning"}
        ),
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
    # Set by the confirmation step's button: without it the page shows what would be
    # replaced and changes nothing.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

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
    field_order = ["reason", "replaces", "confirmed"]


class RollbackForm(ProductionGuardForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why roll back")
    field_order = ["reason", "replaces", "confirmed"]


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


# Roles that sign off, so the roles a policy may require approvals from.
APPROVING_ROLES = [role for role in Role if role.can_sign_off]


def approvals_field(role: Role) -> str:
    return f"approvals_{role.value}"


class PolicyForm(forms.Form):
    """A review policy's rules, one field each; the service validates them again."""

    revision = forms.IntegerField(widget=forms.HiddenInput)
    require_fairness_not_failed = forms.BooleanField(
        required=False, label="Fairness verdict must not be fail"
    )
    require_blocking_kpis_met = forms.BooleanField(
        required=False, label="Blocking KPIs must be met"
    )
    require_shap_report = forms.BooleanField(required=False, label="SHAP report required")
    signoff_valid_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Sign-offs valid for (days)"
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for role in APPROVING_ROLES:
            self.fields[approvals_field(role)] = forms.IntegerField(
                min_value=0, max_value=20, label=f"{role.label} approvals"
            )
        self.order_fields(
            [approvals_field(role) for role in APPROVING_ROLES]
            + ["require_fairness_not_failed", "require_blocking_kpis_met"]
            + ["require_shap_report", "signoff_valid_days"]
        )

    @staticmethod
    def initial_from(policy: ReviewPolicy) -> dict:
        return {
            "revision": policy.revision,
            **{
                approvals_field(role): policy.required_approvals.get(role.value, 0)
                for role in APPROVING_ROLES
            },
            "require_fairness_not_failed": policy.require_fairness_not_failed,
            "require_blocking_kpis_met": policy.require_blocking_kpis_met,
            "require_shap_report": policy.require_shap_report,
            "signoff_valid_days": policy.signoff_valid_days,
        }

    def clean(self) -> dict:
        data = super().clean() or {}
        counts = [data.get(approvals_field(role)) for role in APPROVING_ROLES]
        if all(n == 0 for n in counts):
            self.add_error(
                approvals_field(APPROVING_ROLES[0]),
                "At least one approval is required: set "
                + " or ".join(f"{role.label} approvals" for role in APPROVING_ROLES)
                + " to 1 or more.",
            )
        return data

    def changes(self) -> dict:
        """The policy fields, as ``reviews.services.policy_update`` takes them."""
        data = self.cleaned_data
        return {
            "required_approvals": {
                role.value: data[approvals_field(role)]
                for role in APPROVING_ROLES
                if data[approvals_field(role)]
            },
            "require_fairness_not_failed": data["require_fairness_not_failed"],
            "require_blocking_kpis_met": data["require_blocking_kpis_met"],
            "require_shap_report": data["require_shap_report"],
            "signoff_valid_days": data["signoff_valid_days"],
        }


# --- webhooks (events.services decide what is valid: URL, event types) -----------------------
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
