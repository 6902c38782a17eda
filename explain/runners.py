"""What each report kind computes: default params, the computation itself, engine versions.

Runners are plain functions of a version and params; ``explain.services`` handles claiming,
storing, auditing and retries around them.
"""

from __future__ import annotations

import hashlib
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


def _int_between(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"Must be a whole number from {low:,} to {high:,}."
    return None


def _number_between(value: Any, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return f"Must be a number from {low} to {high}."
    return None


def _policy_error(value: Any) -> str | None:
    try:
        fairness.FairnessPolicy.from_dict(value if isinstance(value, dict) else None)
    except (TypeError, ValueError) as exc:
        return f"Not a valid fairness policy: {exc}"
    return None if isinstance(value, dict) else "Must be an object."


def _rows_error(value: Any, version: ModelVersion) -> str | None:
    if value is None:
        return None
    count = version.evaluation_data.row_count
    if not isinstance(value, list) or not 1 <= len(value) <= 50:
        return "Must be a list of 1 to 50 row numbers."
    if any(_int_between(row, 0, count - 1) for row in value):
        return f"Row numbers go from 0 to {count - 1:,}."
    return None


PARAM_RULES: dict[str, dict[str, Callable[[Any, ModelVersion], str | None]]] = {
    ReportKind.FAIRNESS: {
        "bootstrap_samples": lambda v, _: _int_between(v, 0, 100_000),
        "seed": lambda v, _: _int_between(v, 0, 2**32 - 1),
        "policy": lambda v, _: _policy_error(v),
    },
    ReportKind.KPI: {
        "policy": lambda v, _: _policy_error(v),
        "kpis": lambda v, version: (
            None
            if v == _kpi_definitions(version)
            else "KPIs come from the model's objectives; change them there."
        ),
    },
    ReportKind.SHAP: {
        "max_rows": lambda v, _: _int_between(v, 1, 100_000),
        "background_rows": lambda v, _: _int_between(v, 1, 10_000),
        "seed": lambda v, _: _int_between(v, 0, 2**32 - 1),
        "proxy_threshold": lambda v, _: _number_between(v, 0.0, 1.0),
    },
    ReportKind.LIME: {
        "rows": _rows_error,
        "n_borderline": lambda v, _: _int_between(v, 0, 50),
        "per_group": lambda v, _: _int_between(v, 0, 20),
        "num_features": lambda v, _: _int_between(v, 1, 50),
        "seed": lambda v, _: _int_between(v, 0, 2**32 - 1),
    },
}


def check_params(kind: str, params: dict[str, Any], version: ModelVersion) -> dict[str, str]:
    """Errors by param name; empty when every value is acceptable."""
    rules = PARAM_RULES.get(kind, {})
    errors = {name: rules[name](value, version) for name, value in params.items() if name in rules}
    return {name: error for name, error in errors.items() if error}


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


def _explain_inputs(version: ModelVersion):
    """The safely loaded model, its feature frame and the protected columns."""
    from registry.model_files import load_model_limited

    data = version.evaluation_data
    frame = _frame(version)
    stored = version.model_file
    with stored.file.open("rb") as fh:
        content = fh.read()
    # Check and load the very bytes that were hashed, so a swapped file cannot slip in.
    digest = hashlib.sha256(content).hexdigest()
    if digest != stored.sha256:
        raise ValueError(
            f"The stored model file {stored.file.name} of {version} does not match its sha256 "
            f"({digest} != {stored.sha256}); refusing to explain an altered model."
        )
    model = load_model_limited(content)
    protected = {column: frame[column].to_numpy() for column in data.protected}
    privileged = {column: spec["privileged"] for column, spec in data.protected.items()}
    if not data.feature_columns:
        raise ValueError("The version declares no feature columns to explain.")
    return model, frame[data.feature_columns], protected, privileged, data.favorable_label


def _fraction_progress(progress: Progress, start: int, end: int):
    return lambda fraction, stage: progress(int(start + (end - start) * fraction), stage)


def run_shap(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Global SHAP importance, per group, proxy warnings, and two SVG plots."""
    from .engines import explainability

    progress(2, "loading model")
    model, X, protected, privileged, favorable = _explain_inputs(version)
    output = explainability.shap_report(
        model,
        X,
        protected=protected,
        privileged=privileged,
        positive_class=favorable,
        max_rows=params["max_rows"],
        background_rows=params["background_rows"],
        seed=params["seed"],
        proxy_threshold=params["proxy_threshold"],
        progress=_fraction_progress(progress, 5, 90),
    )
    progress(92, "drawing plots")
    files = {
        name: (svg, "image/svg+xml") for name, svg in explainability.shap_plots(output).items()
    }
    return RunOutput(output.result, files)


def run_lime(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Local LIME explanations for borderline rows and rows per group, or the rows asked for."""
    from .engines import explainability

    progress(2, "loading model")
    model, X, protected, privileged, favorable = _explain_inputs(version)
    # Row ids were checked against the data when the report was requested (check_params).
    result = explainability.lime_report(
        model,
        X,
        protected=protected,
        privileged=privileged,
        positive_class=favorable,
        rows=params.get("rows"),
        n_borderline=params["n_borderline"],
        per_group=params["per_group"],
        num_features=params["num_features"],
        seed=params["seed"],
        progress=_fraction_progress(progress, 5, 99),
    )
    return RunOutput(result)


RUNNERS: dict[str, Callable[[ModelVersion, dict[str, Any], Progress], RunOutput]] = {
    ReportKind.FAIRNESS: run_fairness,
    ReportKind.PERFORMANCE: run_performance,
    ReportKind.KPI: run_kpi,
    ReportKind.SHAP: run_shap,
    ReportKind.LIME: run_lime,
}


def run(kind: str, version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Compute one report."""
    return RUNNERS[kind](version, params, progress)
