"""Registry data: teams, registered models, objectives and KPIs, versions, evaluation data,
service accounts and tokens, and the hash-chained audit log."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
sha256_validator = RegexValidator(SHA256_RE, "Must be 64 lowercase hexadecimal characters.")


class Team(models.Model):
    """A group of people that owns models; membership decides what a person sees."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class RiskTier(models.TextChoices):
    MINIMAL = "minimal", "Minimal"
    LIMITED = "limited", "Limited"
    HIGH = "high", "High"


class RegisteredModel(models.Model):
    """A model under governance; its versions are the candidates for production."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="models")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, default=RiskTier.LIMITED)
    intended_use = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Objective(models.Model):
    """A business objective the model must serve, measured by its KPIs."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="objectives")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class Comparator(models.TextChoices):
    GTE = ">=", "at least"
    LTE = "<=", "at most"


class KPI(models.Model):
    """A measurable target: a metric key compared against a target value."""

    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="kpis")
    name = models.CharField(max_length=200)
    metric_key = models.CharField(
        max_length=200,
        validators=[RegexValidator(r"^[A-Za-z0-9_.:-]+$", "Letters, digits and . _ : - only.")],
        help_text="e.g. accuracy, recall, fairness.sex.disparate_impact, or a key CI reports",
    )
    comparator = models.CharField(max_length=2, choices=Comparator.choices)
    target = models.FloatField()
    unit = models.CharField(max_length=50, blank=True)
    blocking = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "KPI"

    def __str__(self) -> str:
        return f"{self.metric_key} {self.comparator} {self.target}"

    def is_met(self, value: float) -> bool:
        """Whether ``value`` meets this KPI's target."""
        return kpi_met(self.comparator, self.target, value)


def kpi_met(comparator: str, target: float, value: float) -> bool:
    """Whether ``value`` meets ``target`` under ``comparator``; the one KPI comparison, used by
    the model and by stored KPI definitions a report measures."""
    return value >= target if comparator == Comparator.GTE else value <= target


class VersionStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelVersion(models.Model):
    """An immutable candidate version; only services change its status."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(
        max_length=100,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", "Invalid version string.")],
    )
    artifact_uri = models.CharField(max_length=1000)
    artifact_sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    code_commit = models.CharField(max_length=64)
    training_data_uri = models.CharField(max_length=1000)
    training_data_sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.REGISTERED
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submitted_versions"
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    content_sha256 = models.CharField(max_length=64, help_text="sha256 of what was submitted")
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="version_unique_per_model"),
            models.UniqueConstraint(
                fields=["model", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="idempotency_key_unique_per_model",
            ),
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(status="production"),
                name="one_production_version_per_model",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.version}"


class EvaluationDataset(models.Model):
    """The evaluation set CI uploaded with a version, with the role of each column."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="evaluation_data"
    )
    file = models.FileField(upload_to="evaluation/", max_length=500)
    format = models.CharField(max_length=10, choices=Format.choices)
    sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    size_bytes = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    label_column = models.CharField(max_length=200)
    prediction_column = models.CharField(max_length=200)
    score_column = models.CharField(max_length=200, blank=True)
    favorable_label = models.JSONField()
    protected = models.JSONField(help_text='{"column": {"privileged": [values]}}')
    feature_columns = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"evaluation data of {self.version}"

    def clean(self) -> None:
        if not isinstance(self.protected, dict) or not self.protected:
            raise ValidationError({"protected": "At least one protected attribute is required."})


class ModelFile(models.Model):
    """The model itself, in a format that cannot execute code when loaded."""

    version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="model_file"
    )
    file = models.FileField(upload_to="models/", max_length=500)
    format = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    size_bytes = models.BigIntegerField()
    estimator = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"model file of {self.version}"


class ServiceAccount(models.Model):
    """A CI account: a user that cannot log in, only act through scoped API tokens."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.user.username


class ApiToken(models.Model):
    """A bearer token; only its sha256 is stored. CI tokens are scoped to models or teams."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it")
    key_sha256 = models.CharField(max_length=64, unique=True)
    scope_models = models.ManyToManyField(RegisteredModel, blank=True, related_name="+")
    scope_teams = models.ManyToManyField(Team, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: never expires (CI tokens unless given a lifetime).
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class CanonicalJSONEncoder(json.JSONEncoder):
    """JSON as the audit chain hashes it (``registry.offline.canonical_json``): sorted keys, no
    spaces, UTF-8, no NaN, whatever ``json.dumps`` asks for. SQLite keeps a payload as the
    text it is given, so there an event's stored payload is the very text its hash covers,
    and the chain walk hashes it without parsing it."""

    def __init__(self, **options: Any) -> None:
        options.update(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        super().__init__(**options)


class AuditEvent(models.Model):
    """One entry of the append-only audit log, chained to the previous one by its hash."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    # PROTECT: people who acted are deactivated, never deleted, so the record stays whole.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    model_name = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict, encoder=CanonicalJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["actor_name", "seq"], name="audit_actor_seq"),
            # The audit page of someone who sees a few models: their newest events first,
            # without walking the whole chain backwards.
            models.Index(fields=["model_name", "seq"], name="audit_model_seq"),
            models.Index(fields=["created_at"], name="audit_created"),
            # The action filter, and the newest ``audit.verified`` the page shows, by index.
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name}"


class AuditChainHead(models.Model):
    """The single row every writer locks to append to the chain in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="single_chain_head")]

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"
