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


class ObjectionState(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Objection(models.Model):
    """A rejection or request for changes, as an item someone must answer: what is asked (the
    sign-off's comment), of whom, and whether it still stands."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="objections")
    signoff = models.OneToOneField(SignOff, on_delete=models.PROTECT, related_name="objection")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The engineer who asked for the review it answers: the person who must act on it (the
    # model's owning team may act too).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    state = models.CharField(
        max_length=10, choices=ObjectionState.choices, default=ObjectionState.OPEN
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["state", "version"], name="objection_state_version")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="open", resolved_at__isnull=True)
                | models.Q(state="resolved", resolved_at__isnull=False),
                name="objection_resolved_has_time",
            )
        ]

    def __str__(self) -> str:
        return f"objection {self.pk} on {self.version} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == ObjectionState.OPEN


# A comment is a paragraph or a few, not a document: longer text is refused at the field.
COMMENT_MAX_CHARS = 4000


class Comment(models.Model):
    """One message in a version's review conversation, possibly a reply to another or an
    answer to an objection."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=300, help_text="Full name at the time of writing")
    body = models.TextField(max_length=COMMENT_MAX_CHARS)
    reply_to = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replies"
    )
    objection = models.ForeignKey(
        Objection, on_delete=models.PROTECT, null=True, blank=True, related_name="comments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["version", "created_at"], name="comment_version_at")]

    def __str__(self) -> str:
        return f"comment {self.pk} by {self.author_name} on {self.version}"
