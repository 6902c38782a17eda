"""What each page shows: the dashboard, a model, a comparison of two versions, a version with
the actions the person may take. Reads only; the views render them."""

from __future__ import annotations

from typing import Any

from explain import kinds
from explain.models import Report, ReportStatus
from explain.presenters import fairness_sections, lime_rows
from explain.selectors import latest_of_each_kind
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.selectors import models_visible_to
from registry.types import Actor, AnyUser
from reviews import gates
from reviews import permissions as rules
from reviews.models import SignOff
from reviews.policies import policy_current
from reviews.selectors import timeline


def _verdicts(latest: dict[str, Report]) -> dict[str, Any]:
    fairness = latest.get(kinds.FAIRNESS)
    kpi = latest.get(kinds.KPI)
    perf = latest.get(kinds.PERFORMANCE)
    done = ReportStatus.SUCCEEDED
    # A report that succeeded always holds a result; ``or {}`` only tells mypy so.
    return {
        "fairness": (fairness.result or {}).get("verdict")
        if fairness and fairness.status == done
        else None,
        "kpi": (kpi.result or {})["summary"] if kpi and kpi.status == done else None,
        "kpi_values": {row["metric_key"]: row for row in (kpi.result or {})["kpis"]}
        if kpi and kpi.status == done
        else {},
        "performance": (perf.result or {})["overall"] if perf and perf.status == done else None,
        "running": [r for r in latest.values() if not r.is_done],
    }


def dashboard(user: Actor) -> dict[str, Any]:
    """What a person should look at now, across the models they may see."""
    visible = models_visible_to(user)
    versions = (
        ModelVersion.objects.filter(model__in=visible.values("pk"))
        .select_related("model", "submitted_by")
        .order_by("-created_at")
    )
    in_review = list(
        versions.filter(status__in=[VersionStatus.IN_REVIEW, VersionStatus.APPROVED])[:50]
    )
    signed = set(
        SignOff.objects.filter(user=user, version__in=[v.pk for v in in_review]).values_list(
            "version_id", flat=True
        )
    )
    can_sign = bool(rules.signing_roles(user))
    reports = Report.objects.filter(version__in=[v.pk for v in in_review]).only(
        "pk", "version_id", "kind", "status", "params", "result", "created_at", "progress"
    )
    by_version: dict[int, list[Report]] = {}
    for report in reports:
        by_version.setdefault(report.version_id, []).append(report)
    rows: list[dict[str, Any]] = [
        {"version": v, "verdicts": _verdicts(latest_of_each_kind(by_version.get(v.pk, [])))}
        for v in in_review
    ]
    running = (
        Report.objects.filter(
            version__model__in=visible.values("pk"),
            status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING],
        )
        .select_related("version__model")
        .order_by("created_at")[:50]
    )
    return {
        "pending": [
            row
            for row in rows
            if can_sign
            and row["version"].pk not in signed
            and row["version"].status == VersionStatus.IN_REVIEW
        ],
        "in_review": rows,
        "production": versions.filter(status=VersionStatus.PRODUCTION).order_by("model__name"),
        "running": running,
        "models": visible,
    }


def _version_rows(model: RegisteredModel) -> list[dict[str, Any]]:
    versions = list(model.versions.select_related("submitted_by").prefetch_related("reports"))
    return [
        {"version": v, "verdicts": _verdicts(latest_of_each_kind(v.reports.all()))}
        for v in versions
    ]


def model_page(model: RegisteredModel) -> dict[str, Any]:
    """A model's objectives, versions with verdicts and KPI values, and its timeline."""
    rows = _version_rows(model)
    names = [row["version"].version for row in rows]
    production = next(
        (
            row["version"].version
            for row in rows
            if row["version"].status == VersionStatus.PRODUCTION
        ),
        None,
    )
    candidate = next((n for n in names if n != production), None)
    # By default compare the newest candidate with production (or with the one before it).
    pick = (candidate, production or next((n for n in names if n != candidate), candidate))
    return {
        "model": model,
        "compare_pick": pick,
        "objectives": model.objectives.prefetch_related("kpis"),
        "kpis": [
            kpi
            for objective in model.objectives.prefetch_related("kpis")
            for kpi in objective.kpis.all()
        ],
        "rows": rows,
        "timeline": timeline(model),
        "policy": policy_current(model),
    }


def compare_versions(model: RegisteredModel, first: str, second: str) -> dict[str, Any] | None:
    """Side by side: reported metrics, performance, fairness verdicts and DI, KPIs, lineage."""
    rows = {row["version"].version: row for row in _version_rows(model)}
    if first not in rows or second not in rows:
        return None
    a, b = rows[first], rows[second]
    lineage = [
        (label, getattr(a["version"], field), getattr(b["version"], field))
        for label, field in (
            ("Artifact sha256", "artifact_sha256"),
            ("Code commit", "code_commit"),
            ("Training data sha256", "training_data_sha256"),
            ("Content sha256", "content_sha256"),
        )
    ]
    metric_keys = sorted(set(a["version"].metrics) | set(b["version"].metrics))
    perf_keys = ("accuracy", "precision", "recall", "f1", "roc_auc")
    kpi_keys = sorted(set(a["verdicts"]["kpi_values"]) | set(b["verdicts"]["kpi_values"]))
    return {
        "a": a,
        "b": b,
        "lineage": [(label, x, y, x != y) for label, x, y in lineage],
        "params_changed": a["version"].params != b["version"].params,
        "metrics": [
            (k, a["version"].metrics.get(k), b["version"].metrics.get(k)) for k in metric_keys
        ],
        "performance": [
            (
                k,
                (a["verdicts"]["performance"] or {}).get(k),
                (b["verdicts"]["performance"] or {}).get(k),
            )
            for k in perf_keys
        ],
        "kpis": [
            (k, a["verdicts"]["kpi_values"].get(k), b["verdicts"]["kpi_values"].get(k))
            for k in kpi_keys
        ],
    }


def version_page(version: ModelVersion, user: AnyUser) -> dict[str, Any]:
    """Everything the version page shows, and which actions the user may take."""
    reports = list(
        Report.objects.filter(version=version)
        .prefetch_related("files")
        .select_related("requested_by")
    )
    latest = latest_of_each_kind(reports)
    done = ReportStatus.SUCCEEDED

    def result(kind: str) -> dict[str, Any] | None:
        report = latest.get(kind)
        return report.result if report and report.status == done else None

    result_gates = gates.evaluate(version)
    production = (
        version.model.versions.filter(status=VersionStatus.PRODUCTION)
        .values_list("version", flat=True)
        .first()
    )
    fairness = result(kinds.FAIRNESS)
    lime = result(kinds.LIME)
    return {
        "model": version.model,
        "version": version,
        "evaluation": getattr(version, "evaluation_data", None),
        "model_file": getattr(version, "model_file", None),
        "reports": sorted(reports, key=lambda r: (r.kind, r.created_at)),
        "latest": latest,
        "live": any(not r.is_done for r in reports),
        "fairness": fairness,
        "fairness_sections": fairness_sections(fairness) if fairness else [],
        "performance": result(kinds.PERFORMANCE),
        "kpi": result(kinds.KPI),
        "shap": result(kinds.SHAP),
        "shap_files": {f.name: f for f in latest[kinds.SHAP].files.all()}
        if kinds.SHAP in latest
        else {},
        "lime_rows": lime_rows(lime) if lime else [],
        "row_explanations": [
            {"report": r, "rows": lime_rows(r.result or {}) if r.status == done else []}
            for r in reports
            if r.kind == kinds.LIME and r.params.get("rows")
        ],
        "gates": result_gates,
        "signoffs": result_gates.standings[::-1],
        "review_requests": version.review_requests.select_related("requested_by"),
        "production_version": production,
        "can": rules.version_actions(
            user, version, fairness_verdict=(fairness or {}).get("verdict")
        ),
    }
