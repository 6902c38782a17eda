"""The review policy editor's preview: a change to the rules, in words."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from registry.models import RegisteredModel
from registry.roles import approvals_in_words
from reviews import permissions as rules
from reviews.models import (
    ReviewPolicy,
    SignOff,
)


def _policy_values(fields: dict[str, Any]) -> dict[str, str]:
    """A policy's rules in words, by field."""
    yes_no = {True: "yes", False: "no"}
    return {
        "required_approvals": approvals_in_words(fields["required_approvals"]),
        "require_fairness_not_failed": yes_no[bool(fields["require_fairness_not_failed"])],
        "require_blocking_kpis_met": yes_no[bool(fields["require_blocking_kpis_met"])],
        "require_shap_report": yes_no[bool(fields["require_shap_report"])],
        "signoff_valid_days": f"{fields['signoff_valid_days']} days",
    }


POLICY_LABELS = {
    "required_approvals": "Approvals required",
    "require_fairness_not_failed": "Fairness verdict must not be fail",
    "require_blocking_kpis_met": "Blocking KPIs must be met",
    "require_shap_report": "SHAP report required",
    "signoff_valid_days": "Sign-offs valid for",
}


def policy_change(model: RegisteredModel, current: ReviewPolicy, changes: dict) -> dict[str, Any]:
    """A review policy change, old against new, and the sign-offs it would stop counting
    (every sign-off is made under one revision; a new revision lapses them)."""
    old = _policy_values(current.as_dict())
    new = _policy_values(current.as_dict() | changes)
    rows = [
        (label, old[key], new[key], old[key] != new[key]) for key, label in POLICY_LABELS.items()
    ]
    changed = any(row[3] for row in rows) or current.pk is None
    lapsing = list(
        SignOff.objects.filter(
            version__model=model,
            version__status__in=rules.SIGN_IN,
            policy_revision=current.revision,
        )
        .values_list("version__version")
        .annotate(n=Count("pk"))
        .order_by("version__version")
    )
    return {
        "rows": rows,
        "changed": changed,
        "saved": current.pk is not None,
        "next_revision": current.revision + 1 if current.pk else current.revision,
        "lapsing": lapsing if changed else [],
    }
