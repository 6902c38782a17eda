"""Report reads shared by the UI and the API."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from registry.models import ModelVersion

from .kinds import is_one_off
from .models import Report


def reports_of(version: ModelVersion) -> QuerySet[Report]:
    """A version's reports, newest first, with what lists show."""
    return (
        Report.objects.filter(version=version)
        .select_related("version__model", "requested_by")
        .prefetch_related("files")
        .order_by("kind", "-created_at")
    )


def latest_of_each_kind(reports: Iterable[Report]) -> dict[str, Report]:
    """The latest report of each kind: the newest created, the highest pk on a tie; one-off
    requests (LIME rows) never count. The one rule for pages, gates and bundles."""
    latest: dict[str, Report] = {}
    for report in sorted(reports, key=lambda r: (r.created_at, r.pk), reverse=True):
        if not is_one_off(report):
            latest.setdefault(report.kind, report)
    return latest


def latest_reports(version: ModelVersion) -> dict[str, Report]:
    """The latest report of each kind of ``version`` (see ``latest_of_each_kind``)."""
    return latest_of_each_kind(reports_of(version))
