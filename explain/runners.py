"""What each report kind computes: default params, the computation itself, engine versions.

Runners are plain functions of a version and params; ``explain.services`` handles claiming,
storing, auditing and retries around them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pandas as pd
from django.conf import settings

from registry.evaluation import load_dataset_frame
from registry.models import KPI, ModelVersion

from .engines import fairness, performance
from .models import FairnessPolicy, ReportKind

Progress = Callable[[int, str], None]

BASE_ENGINES = ("numpy", "pandas", "scikit-learn")
KIND_ENGINES = {
    ReportKind.FAIRNESS: ("aif360",),
    ReportKind.PERFORMANCE: (),
    ReportKind.KPI: ("aif360",),
    ReportKind.SHAP: ("shap", "skops"),
    ReportKind.LIME: ("lime", "skops"),
}


@dataclass
class RunOutput:
    """A runner's JSON result and the files (name -> (bytes, content type)) it made."""

    result: dict[str, Any]
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def engine_versions(kind: str) -> dict[str, str]:
    """Versions of the libraries a report kind's numbers depend on."""
    return {name: metadata.version(name) for name in (*BASE_ENGINES, *KIND_ENGINES[kind])}


def fairness_policy_of(model) -> dict[str, Any]:
    """The model's saved fairness policy, or the defaults."""
    policy = FairnessPolicy.objects.filter(model=model).first()
    return policy.engine_policy() if policy else fairness.FairnessPolicy().to_dict()


def _kpi_definitions(version: ModelVersion) -> list[dict[str, Any]]:
    kpis = KPI.objects.filter(objective__model=version.model).select_related("objective")
    return [
        {
            "id": kpi.pk,
            "objective": kpi.objective.title,
            "name": kpi.name,
            "metric_key": kpi.metric_key,
            "comparator": kpi.comparator,
            "target": kpi.target,
            "unit": kpi.unit,
            "blocking": kpi.blocking,
        }
        for kpi in kpis.order_by("objective_id", "id")
    ]


def default_params(kind: str, version: ModelVersion) -> dict[str, Any]:
    """The params a report of this kind runs with unless the requester overrides them."""
    if kind == ReportKind.FAIRNESS:
        return {
            "policy": fairness_policy_of(version.model),
            "bootstrap_samples": settings.GATEHOUSE_BOOTSTRAP_SAMPLES,
            "seed": 0,
        }
    if kind == ReportKind.KPI:
        return {"kpis": _kpi_definitions(version), "policy": fairness_policy_of(version.model)}
    if kind == ReportKind.SHAP:
        return {
            "max_rows": settings.GATEHOUSE_SHAP_MAX_ROWS,
            "background_rows": 100,
            "seed": 0,
            "proxy_threshold": 0.3,
        }
    if kind == ReportKind.LIME:
        return {"rows": None, "n_borderline": 5, "per_group": 2, "num_features": 8, "seed": 0}
    return {}


def _columns(version: ModelVersion) -> dict[str, Any]:
    data = version.evaluation_data
    return {
        "label": data.label_column,
        "prediction": data.prediction_column,
        "favorable_label": data.favorable_label,
        "score": data.score_column or None,
    }


def _frame(version: ModelVersion) -> pd.DataFrame:
    return load_dataset_frame(version.evaluation_data)


def run_fairness(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """AIF360-defined group fairness with bootstrap intervals and verdicts."""
    frame = _frame(version)
    result = fairness.fairness_report(
        frame,
        **_columns(version),
        protected=version.evaluation_data.protected,
        policy=params["policy"],
        bootstrap_samples=params["bootstrap_samples"],
        seed=params["seed"],
        progress=progress,
    )
    return RunOutput(result)


def run_performance(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Accuracy, precision, recall, F1 and ROC AUC, overall and per group."""
    progress(10, "computing metrics")
    result = performance.performance_report(
        _frame(version), **_columns(version), protected=version.evaluation_data.protected
    )
    return RunOutput(result)


def measure_kpis(
    kpis: list[dict[str, Any]], computed: dict[str, float], reported: dict[str, Any]
) -> dict[str, Any]:
    """Each KPI against its target; keys nothing provides are missing, never met."""
    rows = []
    for kpi in kpis:
        key = kpi["metric_key"]
        if key in computed:
            value, source = computed[key], "computed"
        elif isinstance(reported.get(key), int | float) and not isinstance(reported.get(key), bool):
            value, source = float(reported[key]), "reported by CI"
        else:
            value, source = None, None
        if value is None:
            status = "missing"
        else:
            met = value >= kpi["target"] if kpi["comparator"] == ">=" else value <= kpi["target"]
            status = "met" if met else "not_met"
        rows.append({**kpi, "value": value, "source": source, "status": status})
    blocking = [row for row in rows if row["blocking"]]
    return {
        "kpis": rows,
        "summary": {
            "total": len(rows),
            "met": sum(row["status"] == "met" for row in rows),
            "not_met": sum(row["status"] == "not_met" for row in rows),
            "missing": sum(row["status"] == "missing" for row in rows),
            "blocking_all_met": all(row["status"] == "met" for row in blocking),
            "blocking_failing": [row["metric_key"] for row in blocking if row["status"] != "met"],
        },
    }


def run_kpi(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Measure the model's KPIs: computed metrics first, then what CI reported."""
    frame = _frame(version)
    columns = _columns(version)
    protected = version.evaluation_data.protected
    progress(20, "computing performance")
    perf = performance.performance_report(frame, **columns, protected=protected)
    progress(50, "computing fairness point estimates")
    fair = fairness.fairness_report(
        frame, **columns, protected=protected, policy=params["policy"], bootstrap_samples=0
    )
    computed = {**performance.kpi_values(perf), **fairness.kpi_values(fair)}
    return RunOutput(measure_kpis(params["kpis"], computed, version.metrics))


RUNNERS: dict[str, Callable[[ModelVersion, dict[str, Any], Progress], RunOutput]] = {
    ReportKind.FAIRNESS: run_fairness,
    ReportKind.PERFORMANCE: run_performance,
    ReportKind.KPI: run_kpi,
}


def run(kind: str, version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Compute one report."""
    return RUNNERS[kind](version, params, progress)
