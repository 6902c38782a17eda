"""Report reads shared by the UI and the API."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from registry.models import ModelVersion

from .kinds import KINDS, is_one_off
from .models import Report

# The values Python counts as false, as JSON: a one-off param set to one of them is not set.
_FALSY_JSON: tuple[object, ...] = (None, False, 0, "", [], {})


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


def _one_off() -> Q:
    """``kinds.is_one_off`` in SQL: a kind's one-off param is present and not falsy."""
    one_off = Q(pk__in=[])
    for key, spec in KINDS.items():
        for name in spec.one_off_params:
            unset = Q(**{f"params__{name}__isnull": True})
            for value in _FALSY_JSON:
                unset |= Q(**{f"params__{name}": value})
            one_off |= Q(kind=key) & ~unset
    return one_off


def newest_of_each_kind(reports: QuerySet[Report]) -> QuerySet[Report]:
    """Of ``reports``, only the latest of each kind of each version (the rule of
    ``latest_of_each_kind``), chosen in SQL: ``DISTINCT ON`` where the database has it, a
    window function elsewhere. Callers narrow the columns (``only``, ``annotate``) so a page
    reads no result it does not show."""
    candidates = reports.exclude(_one_off())
    if connections[reports.db].features.can_distinct_on_fields:
        return candidates.order_by("version_id", "kind", "-created_at", "-pk").distinct(
            "version_id", "kind"
        )
    rank = Window(
        RowNumber(),
        partition_by=[F("version_id"), F("kind")],
        order_by=[F("created_at").desc(), F("pk").desc()],
    )
    return candidates.annotate(newest_rank=rank).filter(newest_rank=1)


def latest_by_version(reports: QuerySet[Report]) -> dict[int, dict[str, Report]]:
    """The latest report of each kind, by version id, in one query (see
    ``newest_of_each_kind``); each version's dict is ordered as ``latest_of_each_kind``'s."""
    by_version: dict[int, list[Report]] = {}
    for report in newest_of_each_kind(reports):
        by_version.setdefault(report.version_id, []).append(report)
    return {pk: latest_of_each_kind(rows) for pk, rows in by_version.items()}


def latest_reports(version: ModelVersion) -> dict[str, Report]:
    """The latest report of each kind of ``version`` (see ``latest_of_each_kind``); only
    those rows are read."""
    return latest_of_each_kind(newest_of_each_kind(reports_of(version)))
