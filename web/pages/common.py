"""What several pages show alike: the version rows with their latest verdicts read in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Case, JSONField, When
from django.db.models.fields.json import KeyTransform

from explain import kinds
from explain.models import Report, ReportStatus
from explain.selectors import latest_by_version, newest_of_each_kind
from registry.models import ModelVersion

# What version rows show of each kind's latest result, read from the result in SQL: the
# rows never load a whole result (name: (kind, key in the result)).
SHOWN = {
    "shown_verdict": (kinds.FAIRNESS, "verdict"),
    "shown_summary": (kinds.KPI, "summary"),
    "shown_kpis": (kinds.KPI, "kpis"),
    "shown_overall": (kinds.PERFORMANCE, "overall"),
}


def latest_shown(version_ids: Sequence[int]) -> dict[int, dict[str, Report]]:
    """The latest report of each kind of each version, in one query, with only the parts
    of their results that version rows show (``SHOWN``), as attributes."""
    done = ReportStatus.SUCCEEDED
    # Choose the rows first (a subquery), then read from the chosen rows only: the database
    # computes a select list before DISTINCT ON, so reading keys there would read every result.
    chosen = newest_of_each_kind(Report.objects.filter(version__in=list(version_ids)))
    reports = (
        Report.objects.filter(pk__in=chosen.values("pk"))
        .only("pk", "version_id", "kind", "status", "params", "created_at", "progress")
        .annotate(
            **{
                name: Case(
                    When(kind=kind, status=done, then=KeyTransform(key, "result")),
                    output_field=JSONField(),
                )
                for name, (kind, key) in SHOWN.items()
            }
        )
    )
    return latest_by_version(reports)


def verdicts_of(latest: dict[str, Report]) -> dict[str, Any]:
    fairness = latest.get(kinds.FAIRNESS)
    kpi = latest.get(kinds.KPI)
    perf = latest.get(kinds.PERFORMANCE)
    done = ReportStatus.SUCCEEDED
    ok_fairness = fairness if fairness and fairness.status == done else None
    ok_kpi = kpi if kpi and kpi.status == done else None
    ok_perf = perf if perf and perf.status == done else None
    return {
        "fairness": getattr(ok_fairness, "shown_verdict", None),
        "kpi": getattr(ok_kpi, "shown_summary", None),
        "kpi_values": {row["metric_key"]: row for row in getattr(ok_kpi, "shown_kpis", None) or []},
        "performance": getattr(ok_perf, "shown_overall", None),
        "running": [r for r in latest.values() if not r.is_done],
        "failed": [r.kind for r in latest.values() if r.status == ReportStatus.FAILED],
    }


def failing_of(verdicts: dict[str, Any]) -> list[str]:
    """What fails among a version's latest checks, in words (empty when nothing does)."""
    problems = []
    if verdicts["fairness"] == "fail":
        problems.append("fairness fails")
    kpi = verdicts["kpi"] or {}
    if kpi and not kpi.get("blocking_all_met", True):
        problems.append("blocking KPIs not met: " + ", ".join(kpi.get("blocking_failing") or []))
    problems += [f"{kinds.label(kind)} report failed" for kind in verdicts["failed"]]
    return problems


def version_rows(versions: Sequence[ModelVersion]) -> list[dict[str, Any]]:
    """Each version with the verdicts of its latest reports (one query for all of them)."""
    latest = latest_shown([v.pk for v in versions])
    return [{"version": v, "verdicts": verdicts_of(latest.get(v.pk, {}))} for v in versions]
