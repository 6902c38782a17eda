"""Report reads shared by the UI and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import ModelVersion

from .models import Report, ReportKind


def reports_of(version: ModelVersion) -> QuerySet[Report]:
    """A version's reports, newest first, with what lists show."""
    return (
        Report.objects.filter(version=version)
        .select_related("version__model", "requested_by")
        .prefetch_related("files")
        .order_by("kind", "-created_at")
    )


def latest_reports(version: ModelVersion) -> dict[str, Report]:
    """The newest report of each kind (LIME: the automatic one, not per-row requests)."""
    latest: dict[str, Report] = {}
    for report in reports_of(version):
        if report.kind == ReportKind.LIME and report.params.get("rows"):
            continue
        latest.setdefault(report.kind, report)
    return latest
