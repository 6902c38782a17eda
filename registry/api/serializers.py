"""Input and output shapes of the registry API. Serializers validate; they never write."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from rest_framework import serializers

from ..models import (
    KPI,
    SHA256_RE,
    Comparator,
    ModelVersion,
    Objective,
    RegisteredModel,
    RiskTier,
)
from .parsers import TooDeep, loads_bounded

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ..models import Team

# --- models --------------------------------------------------------------------------------


class ModelOutput(serializers.ModelSerializer):
    owner_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    url = serializers.SerializerMethodField()
    versions_url = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = (
            "name",
            "title",
            "description",
            "owner_team",
            "risk_tier",
            "intended_use",
            "created_by",
            "created_at",
            "url",
            "versions_url",
        )

    def get_url(self, obj: RegisteredModel) -> str:
        return reverse("api:model-detail", args=[obj.name])

    def get_versions_url(self, obj: RegisteredModel) -> str:
        return reverse("api:version-list", args=[obj.name])


class ModelCreateInput(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    title = serializers.CharField(max_length=200)
    owner_team = serializers.SlugField(help_text="Slug of the owning team")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, default=RiskTier.LIMITED)
    intended_use = serializers.CharField(required=False, allow_blank=True, default="")


class ModelUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    intended_use = serializers.CharField(required=False, allow_blank=True)


# --- objectives ----------------------------------------------------------------------------


class KPISerializer(serializers.ModelSerializer):
    comparator = serializers.ChoiceField(choices=Comparator.choices)

    class Meta:
        model = KPI
        fields = ("id", "name", "metric_key", "comparator", "target", "unit", "blocking")
        read_only_fields = ("id",)


class ObjectiveOutput(serializers.ModelSerializer):
    kpis = KPISerializer(many=True, read_only=True)

    class Meta:
        model = Objective
        fields = ("id", "title", "description", "kpis", "created_at")


class ObjectiveCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kpis = KPISerializer(many=True)

    def validate_kpis(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise serializers.ValidationError("An objective needs at least one KPI.")
        return value


# --- versions ------------------------------------------------------------------------------


class Sha256Field(serializers.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            SHA256_RE,
            max_length=64,
            error_messages={"invalid": "Must be a sha256: 64 lowercase hexadecimal characters."},
            **kwargs,
        )


class ProtectedAttributeInput(serializers.Serializer):
    privileged = serializers.ListField(child=serializers.JSONField(), min_length=1)


class ColumnsInput(serializers.Serializer):
    # The API's field is named "label"; it shadows the stubs' Field.label (its display name).
    label = serializers.CharField()  # type: ignore[assignment]
    prediction = serializers.CharField()
    score = serializers.CharField(required=False, allow_blank=True, default="")
    favorable_label = serializers.JSONField()
    protected = serializers.DictField(child=ProtectedAttributeInput(), allow_empty=False)
    features = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def validate_favorable_label(self, value: Any) -> Any:
        if not isinstance(value, str | int | bool):
            raise serializers.ValidationError("Must be a string, an integer or a boolean.")
        return value


# Serialized size caps: a free-form mapping is shown on every version page and in every
# bundle, so a 9 MB ``params`` made its page 38x slower. Documented in the README.
MAX_FIELD_BYTES = {"metrics": 64 * 1024, "params": 64 * 1024, "tags": 16 * 1024}
MAX_METADATA_BYTES = 256 * 1024


class MaxJSONBytes:
    """Refuse a value whose compact JSON encoding is longer than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: Any) -> None:
        size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
        if size > self.limit:
            raise serializers.ValidationError(
                f"At most {self.limit} bytes as JSON; this is {size} bytes."
            )


def _numbers_only(value: dict[str, Any]) -> None:
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise serializers.ValidationError(f"Metric values must be numbers: {', '.join(bad)}.")


class VersionMetadataInput(serializers.Serializer):
    version = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=100)
    artifact_uri = serializers.CharField(max_length=1000)
    artifact_sha256 = Sha256Field()
    code_commit = serializers.RegexField(r"^[0-9a-fA-F]{7,64}$", max_length=64)
    training_data_uri = serializers.CharField(max_length=1000)
    training_data_sha256 = Sha256Field()
    metrics = serializers.DictField(
        required=False,
        default=dict,
        validators=[_numbers_only, MaxJSONBytes(MAX_FIELD_BYTES["metrics"])],
    )
    params = serializers.DictField(
        required=False, default=dict, validators=[MaxJSONBytes(MAX_FIELD_BYTES["params"])]
    )
    tags = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        default=dict,
        validators=[MaxJSONBytes(MAX_FIELD_BYTES["tags"])],
    )
    columns = ColumnsInput()
    artifact_is_model_file = serializers.BooleanField(
        required=False,
        default=True,
        help_text="When a model file is uploaded, artifact_sha256 must be its sha256 unless false.",
    )


class JSONStringField(serializers.Field):
    """A multipart part holding a JSON document, validated by a nested serializer."""

    def __init__(self, serializer_class: type[serializers.Serializer], **kwargs: Any) -> None:
        self.serializer_class = serializer_class
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if hasattr(data, "read"):
            data = data.read(MAX_METADATA_BYTES + 1)
        if isinstance(data, str):
            data = data.encode()
        if isinstance(data, bytes):
            if len(data) > MAX_METADATA_BYTES:
                raise serializers.ValidationError(f"At most {MAX_METADATA_BYTES} bytes.")
            try:
                data = loads_bounded(data.decode("utf-8", errors="replace"))
            except TooDeep as exc:
                raise serializers.ValidationError(
                    {exc.key: [str(exc)]} if exc.key else str(exc)
                ) from exc
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        inner = self.serializer_class(data=data)
        inner.is_valid(raise_exception=True)
        return dict(inner.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


class VersionRegisterInput(serializers.Serializer):
    metadata = JSONStringField(VersionMetadataInput, help_text="JSON document, see the README")
    evaluation_data = serializers.FileField(help_text="CSV, or Parquet when pyarrow is installed")
    model = serializers.FileField(required=False, help_text="Optional model file (skops)")


# Writes times as the generic output's DateTimeField does (kept out of the class: a field
# there would be taken as one of its declared fields).
_TIME = serializers.DateTimeField()


class VersionOutput(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    submitted_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    evaluation_data = serializers.SerializerMethodField()
    model_file = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    reports_url = serializers.SerializerMethodField()
    web_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = (
            "model",
            "version",
            "status",
            "artifact_uri",
            "artifact_sha256",
            "code_commit",
            "training_data_uri",
            "training_data_sha256",
            "metrics",
            "params",
            "tags",
            "submitted_by",
            "content_sha256",
            "created_at",
            "evaluation_data",
            "model_file",
            "url",
            "reports_url",
            "web_url",
        )

    # The fields above describe the output (the schema is read from them); this writes it
    # directly. DRF builds a ModelSerializer's fields afresh for every instance: 2.9 ms of the
    # 3.5 ms this took on every version GET and registration. Kept equal to the generic
    # output by tests/registry/test_api_output.py.
    _TEXT = (
        "version",
        "status",
        "artifact_uri",
        "artifact_sha256",
        "code_commit",
        "training_data_uri",
        "training_data_sha256",
    )

    def to_representation(self, instance: ModelVersion) -> dict[str, Any]:
        out: dict[str, Any] = {"model": instance.model.name}
        for name in self._TEXT:
            out[name] = str(getattr(instance, name))
        for name in ("metrics", "params", "tags"):
            out[name] = getattr(instance, name)
        out["submitted_by"] = instance.submitted_by.username
        out["content_sha256"] = instance.content_sha256
        out["created_at"] = _TIME.to_representation(instance.created_at)
        out["evaluation_data"] = self.get_evaluation_data(instance)
        out["model_file"] = self.get_model_file(instance)
        out["url"] = url = self.get_url(instance)
        out["reports_url"] = url + "reports/"
        out["web_url"] = self.get_web_url(instance)
        return out

    def get_evaluation_data(self, obj: ModelVersion) -> dict[str, Any] | None:
        data = getattr(obj, "evaluation_data", None)
        if data is None:
            return None
        return {
            "format": data.format,
            "sha256": data.sha256,
            "size_bytes": data.size_bytes,
            "row_count": data.row_count,
            "label": data.label_column,
            "prediction": data.prediction_column,
            "score": data.score_column or None,
            "favorable_label": data.favorable_label,
            "protected": data.protected,
            "features": data.feature_columns,
        }

    def get_model_file(self, obj: ModelVersion) -> dict[str, Any] | None:
        mf = getattr(obj, "model_file", None)
        if mf is None:
            return None
        return {
            "format": mf.format,
            "sha256": mf.sha256,
            "size_bytes": mf.size_bytes,
            "estimator": mf.estimator,
        }

    def get_url(self, obj: ModelVersion) -> str:
        return reverse("api:version-detail", args=[obj.model.name, obj.version])

    def get_reports_url(self, obj: ModelVersion) -> str:
        return reverse("api:version-detail", args=[obj.model.name, obj.version]) + "reports/"

    def get_web_url(self, obj: ModelVersion) -> str:
        return reverse("version-detail", args=[obj.model.name, obj.version])


class TokenRequestInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, default="API token", max_length=200)
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Lifetime in days; defaults to (and may not exceed) GATEHOUSE_TOKEN_DAYS",
    )


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; store it now")
    prefix = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
