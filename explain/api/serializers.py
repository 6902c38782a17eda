"""Report API shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse
from rest_framework import serializers

from registry.api.serializers import MAX_FIELD_BYTES, MaxJSONBytes

from .. import kinds
from ..models import Report, ReportFile

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class ReportFileOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ReportFile
        fields = ("name", "content_type", "sha256", "url")

    def get_url(self, obj: ReportFile) -> str:
        report = obj.report
        return reverse(
            "report-file",
            args=[report.version.model.name, report.version.version, report.pk, obj.name],
        )


class ReportSummaryOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields: tuple[str, ...] = (
            "id",
            "kind",
            "status",
            "progress",
            "progress_message",
            "params_sha256",
            "result_sha256",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "url",
        )

    def get_url(self, obj: Report) -> str:
        return reverse(
            "api:report-detail", args=[obj.version.model.name, obj.version.version, obj.pk]
        )


class ReportOutput(ReportSummaryOutput):
    files = ReportFileOutput(many=True, read_only=True)
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null for the system"
    )

    class Meta(ReportSummaryOutput.Meta):
        fields = (
            *ReportSummaryOutput.Meta.fields,
            "params",
            "result",
            "error",
            "engine_versions",
            "requested_by",
            "files",
        )


class ReportRequestInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=kinds.choices())
    params = serializers.DictField(
        required=False, default=dict, validators=[MaxJSONBytes(MAX_FIELD_BYTES["params"])]
    )
