"""The current review policy of a model, and who may never approve a version."""

from __future__ import annotations

from registry.models import ModelVersion, RegisteredModel, RiskTier
from registry.roles import Role

from .models import DEFAULT_APPROVALS, ReviewPolicy


def policy_defaults(model: RegisteredModel) -> dict:
    """The policy a model's risk tier gives it until someone changes it."""
    return {
        "required_approvals": dict(DEFAULT_APPROVALS[model.risk_tier]),
        "require_fairness_not_failed": True,
        "require_blocking_kpis_met": True,
        "require_shap_report": model.risk_tier == RiskTier.HIGH,
        "signoff_valid_days": 90,
    }


def policy_current(model: RegisteredModel) -> ReviewPolicy:
    """The newest saved revision, or revision 1 from the tier defaults (not yet saved)."""
    saved = model.review_policies.order_by("-revision").first()
    return saved or ReviewPolicy(model=model, revision=1, **policy_defaults(model))


def sod_excluded(version: ModelVersion) -> set[int]:
    """User ids that may never approve this version: its submitter (a person or a CI
    account) and the ML engineers of the owning team."""
    owners = version.model.owner_team.members.filter(groups__name=Role.ML_ENGINEER.value)
    return {version.submitted_by_id, *owners.values_list("pk", flat=True)}
