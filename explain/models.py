"""Reports computed by workers on a version's evaluation data, and per-model fairness policy."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from registry.models import ModelVersion, RegisteredModel


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Report(models.Model):
    """One computation of one kind on one version with given params; asked twice, made once."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="reports")
    # One of ``explain.kinds.KINDS``: the services check it, so a new kind needs no migration.
    kind = models.CharField(max_length=20)
    params = models.JSONField(default=dict)
    params_sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    progress_message = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    engine_versions = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the task message was last handed to the broker; null while it never reached one.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # When a worker received that message (or, for a retry, when it is due); a queued report
    # delivered this long ago but never claimed lost its message with its worker.
    delivered_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "params_sha256"], name="report_unique_per_params"
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="report_status_heartbeat")]

    def __str__(self) -> str:
        return f"{self.kind} report #{self.pk} of {self.version}"

    @property
    def is_done(self) -> bool:
        return self.status in (ReportStatus.SUCCEEDED, ReportStatus.FAILED)


class ReportFile(models.Model):
    """A file a report produced (a plot), with its digest."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=100)
    file = models.FileField(upload_to="reports/", max_length=500)
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["report", "name"], name="report_file_unique")
        ]

    def __str__(self) -> str:
        return self.name


class GroupThresholds(models.TextChoices):
    """Whether the version page offers a group-specific decision threshold as a remedy."""

    WITHHOLD = "withhold", "Withhold: never suggest a threshold per protected group"
    CAVEAT = "caveat", "Show the preview with a caveat naming the legal risk"
    SHOW = "show", "Show the preview (the attributes are not legally protected here)"


class FairnessPolicy(models.Model):
    """The bands a model's fairness metrics must stay in; defaults apply until one is saved."""

    model = models.OneToOneField(
        RegisteredModel, on_delete=models.CASCADE, related_name="fairness_policy"
    )
    disparate_impact_min = models.FloatField(default=0.8, validators=[MinValueValidator(0)])
    disparate_impact_max = models.FloatField(default=1.25, validators=[MinValueValidator(1)])
    statistical_parity_difference_max = models.FloatField(
        default=0.1, validators=[MinValueValidator(0)]
    )
    equal_opportunity_difference_max = models.FloatField(
        default=0.1, validators=[MinValueValidator(0)]
    )
    average_odds_difference_max = models.FloatField(default=0.1, validators=[MinValueValidator(0)])
    min_group_size = models.PositiveIntegerField(default=30)
    confidence_level = models.FloatField(
        default=0.95, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)]
    )
    bootstrap_samples = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(0), MaxValueValidator(100_000)]
    )
    group_thresholds = models.CharField(
        max_length=10,
        choices=GroupThresholds.choices,
        default=GroupThresholds.WITHHOLD,
        help_text="A threshold per protected group is disparate treatment in many jurisdictions "
        "(e.g. ECOA / Regulation B in US consumer credit): withheld unless this says otherwise.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "fairness policies"

    def __str__(self) -> str:
        return f"fairness policy of {self.model}"

    def engine_policy(self) -> dict[str, float | int]:
        """The bands as the fairness engine takes them."""
        return {name: getattr(self, name) for name in POLICY_FIELDS}


POLICY_FIELDS = (
    "disparate_impact_min",
    "disparate_impact_max",
    "statistical_parity_difference_max",
    "equal_opportunity_difference_max",
    "average_odds_difference_max",
    "min_group_size",
    "confidence_level",
)
