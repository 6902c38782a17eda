"""Admin for reports (read-only: only workers write them) and fairness policies (audited)."""

from __future__ import annotations

from django.contrib import admin

from registry.admin import AuditedAdmin, ReadOnlyAdmin

from .models import FairnessPolicy, Report, ReportFile


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "version",
        "kind",
        "status",
        "progress",
        "attempts",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("version__version", "version__model__name", "result_sha256")


@admin.register(ReportFile)
class ReportFileAdmin(ReadOnlyAdmin):
    list_display = ("report", "name", "content_type", "sha256")


@admin.register(FairnessPolicy)
class FairnessPolicyAdmin(AuditedAdmin):
    list_display = (
        "model",
        "disparate_impact_min",
        "disparate_impact_max",
        "min_group_size",
        "group_thresholds",
        "updated_at",
    )

    def _model_name(self, obj) -> str:
        return obj.model.name
