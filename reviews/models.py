"""Review policies (versioned), review requests, e-signed sign-offs and the production timeline."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from registry.models import ModelVersion, RegisteredModel, RiskTier

# Approvals each risk tier needs by default: role -> how many distinct people.
DEFAULT_APPROVALS: dict[str, dict[str, int]] = {
    RiskTier.HIGH: {"reviewer": 1, "risk_officer": 1},
    RiskTier.LIMITED: {"reviewer": 1},
    RiskTier.MINIMAL: {"reviewer": 1},
}


class ReviewPolicy(models.Model):
    """Who must approve a model's versions and which checks must pass; one row per revision."""

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="review_policies"
    )
    revision = models.PositiveIntegerField()
    required_approvals = models.JSONField(
        help_text='Role -> number of approvals, e.g. {"reviewer": 1}'
    )
    require_fairness_not_failed = models.BooleanField(default=True)
    require_blocking_kpis_met = models.BooleanField(default=True)
    require_shap_report = models.BooleanField(default=False)
    signoff_valid_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-revision"]
        constraints = [
            models.UniqueConstraint(fields=["model", "revision"], name="policy_revision_unique")
        ]
        verbose_name_plural = "review policies"

    def __str__(self) -> str:
        return f"review policy r{self.revision} of {self.model}"

    def as_dict(self) -> dict:
        """The rules, as recorded in audit events and shown on pages."""
        return {
            "revision": self.revision,
            "required_approvals": self.required_approvals,
            "require_fairness_not_failed": self.require_fairness_not_failed,
            "require_blocking_kpis_met": self.require_blocking_kpis_met,
            "require_shap_report": self.require_shap_report,
            "signoff_valid_days": self.signoff_valid_days,
        }


class ReviewRequest(models.Model):
    """An engineer's request that a version be reviewed."""

    version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="review_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    policy_revision = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"review request for {self.version}"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    FAIRNESS_OVERRIDE = "fairness_override", "Fairness override (inconclusive verdict accepted)"


class SignOff(models.Model):
    """An electronic signature: who, in which role, what they decided, when, on exactly what."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="signoffs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signoffs"
    )
    signer_name = models.CharField(max_length=300, help_text="Full name at the time of signing")
    role = models.CharField(max_length=20)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    meaning = models.CharField(max_length=300, help_text="What the signature means, in words")
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField()
    policy_revision = models.PositiveIntegerField()
    # What was signed: the version's content, the reports' result hashes and the policy.
    subject = models.JSONField()
    subject_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signer_name} on {self.version}"


class ProductionEvent(models.Model):
    """One change of a model's production version: the timeline auditors read."""

    class Action(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back to"

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.PROTECT, related_name="production_events"
    )
    version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="production_events"
    )
    replaced = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    approvals = models.JSONField(default=list, help_text="The sign-offs that counted, at the time")
    at = models.DateTimeField()

    class Meta:
        ordering = ["model", "-at"]
        indexes = [models.Index(fields=["model", "at"], name="production_event_model_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.version} at {self.at:%Y-%m-%d %H:%M}"
