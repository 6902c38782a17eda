"""The fairness report: counts, bootstrap, verdicts and hints assembled into one JSON-safe
dict per model version, and its KPI values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import _bootstrap, _intervals
from .inputs import Outcomes, ProgressCallback, as_frame, json_value, number, outcomes_from
from .metrics import METRICS, comparison_metrics, group_rates, theil_index
from .mitigation import _grid_bins, _score_histogram, reweighing_weights, threshold_preview
from .policy import PASS, FairnessPolicy, metric_verdict, worst
from .strata import _aggregate, _build_units, _comparison_sides, _parse_protected, _Unit

ENGINE_VERSION = "gatehouse-fairness/1"


@dataclass(frozen=True)
class Prepared:
    """The data reduced once: favorable-outcome indicators, the joint (group x cell) strata
    and each attribute and pair mapped onto them. Fairness, performance and KPI reports all
    read their threshold metrics from these counts."""

    outcomes: Outcomes
    units: list[_Unit]
    strata_counts: np.ndarray
    total: np.ndarray
    warnings: list[str]


def prepare(
    data: pd.DataFrame | Mapping[str, Any],
    *,
    label: str,
    prediction: str,
    favorable_label: Any,
    protected: Mapping[str, Mapping[str, Any]],
    score: str | None = None,
) -> Prepared:
    """Validate the columns and count the strata, once per data set."""
    frame = as_frame(data)
    outcomes = outcomes_from(
        frame, label=label, prediction=prediction, favorable_label=favorable_label, score=score
    )
    privileged = _parse_protected(frame, protected)
    cell = outcomes.y_true.astype(np.int64) * 2 + outcomes.y_pred
    units, strata_counts, warnings = _build_units(frame, privileged, cell)
    return Prepared(outcomes, units, strata_counts, np.bincount(cell, minlength=4), warnings)


def fairness_report(
    data: pd.DataFrame | Mapping[str, Any],
    *,
    label: str,
    prediction: str,
    favorable_label: Any,
    protected: Mapping[str, Mapping[str, Any]],
    score: str | None = None,
    policy: FairnessPolicy | Mapping[str, Any] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Compute the fairness report of one model version's predictions as a JSON-safe dict."""
    if policy is None or isinstance(policy, Mapping):
        policy = FairnessPolicy.from_dict(policy)
    if isinstance(bootstrap_samples, bool) or bootstrap_samples < 0:
        raise ValueError("bootstrap_samples must be a non-negative integer")
    report_progress: ProgressCallback = progress or (lambda percent, message: None)
    report_progress(0, "validating input")
    prepared = prepare(
        data,
        label=label,
        prediction=prediction,
        favorable_label=favorable_label,
        protected=protected,
        score=score,
    )
    return fairness_report_from(
        prepared,
        favorable_label=favorable_label,
        policy=policy,
        bootstrap_samples=bootstrap_samples,
        seed=seed,
        progress=report_progress,
    )


def fairness_report_from(
    prepared: Prepared,
    *,
    favorable_label: Any,
    policy: FairnessPolicy,
    bootstrap_samples: int,
    seed: int,
    progress: ProgressCallback,
    mitigation: bool = True,
) -> dict[str, Any]:
    """The fairness report of data already reduced by ``prepare``; without ``mitigation``,
    failing comparisons carry no hints (for the KPI values, which never read them)."""
    report_progress = progress
    outcomes, units, strata_counts = prepared.outcomes, prepared.units, prepared.strata_counts
    total, warnings = prepared.total, list(prepared.warnings)
    report_progress(20, "counted groups")

    replicates: list[dict[str, np.ndarray]] = [{} for _ in units]
    if bootstrap_samples:
        replicates = _bootstrap(
            strata_counts, units, samples=bootstrap_samples, seed=seed, progress=report_progress
        )

    # Score bins on the threshold grid, computed once and only if a comparison needs a preview.
    bins: list[np.ndarray] = []

    def score_bins() -> np.ndarray:
        if not bins:
            assert outcomes.score is not None
            bins.append(_grid_bins(outcomes.score))
        return bins[0]

    sections: dict[str, dict[str, Any]] = {}
    for unit, reps in zip(units, replicates, strict=True):
        sections[unit.name] = _unit_section(
            unit, strata_counts, total, reps, outcomes, score_bins, policy, mitigation
        )
    report_progress(95, "judged metrics")

    attributes = {u.name: sections[u.name] for u in units if len(u.columns) == 1}
    intersections = {u.name: sections[u.name] for u in units if len(u.columns) == 2}
    overall = {k: number(v) for k, v in group_rates(total).items()}
    overall["count"] = int(total.sum())
    result = {
        "engine": ENGINE_VERSION,
        "rows": int(total.sum()),
        "favorable_label": json_value(favorable_label),
        "scores_supplied": outcomes.score is not None,
        "policy": policy.to_dict(),
        "bootstrap": {
            "method": "percentile",
            "resampling": "rows with replacement over the whole data set, "
            "drawn as multinomial counts of (group x confusion cell) strata",
            "samples": int(bootstrap_samples),
            "seed": int(seed),
            "confidence_level": policy.confidence_level,
        },
        "overall": overall,
        "theil_index": theil_index(total),
        "attributes": attributes,
        "intersections": intersections,
        "verdict": worst([s["verdict"] for s in sections.values()]),
        "warnings": warnings,
    }
    report_progress(100, "done")
    return result


def _unit_section(
    unit: _Unit,
    strata_counts: np.ndarray,
    total: np.ndarray,
    replicates: dict[str, np.ndarray],
    outcomes: Outcomes,
    score_bins: Callable[[], np.ndarray],
    policy: FairnessPolicy,
    hints: bool = True,
) -> dict[str, Any]:
    """Group table, comparisons, verdicts and mitigation hints of one attribute or pair."""
    counts = _aggregate(strata_counts, unit.stratum_target, unit.n_groups)
    rates = group_rates(counts)
    groups = []
    for g, value in enumerate(unit.values):
        row = {"value": json_value(value), "privileged": bool(unit.privileged[g])}
        row.update({k: number(v[g]) for k, v in rates.items()})
        row["count"] = int(counts[g].sum())
        groups.append(row)

    priv, unpriv, members = _comparison_sides(counts, unit.privileged)
    point = comparison_metrics(priv, unpriv)
    intervals = {
        m: _intervals(replicates[m], policy.confidence_level) if m in replicates else None
        for m in METRICS
    }
    at_least = None
    comparisons: list[dict[str, Any]] = []
    for m, member in enumerate(members):
        unpriv_size = int(unpriv[m].sum())
        large_enough = min(int(priv.sum()), unpriv_size) >= policy.min_group_size
        metrics: dict[str, dict[str, Any]] = {}
        for metric in METRICS:
            value = number(point[metric][m])
            per_member = intervals[metric]
            interval = per_member[m] if per_member is not None else None
            verdict, reason = metric_verdict(
                metric, value, interval, groups_large_enough=large_enough, policy=policy
            )
            metrics[metric] = {
                "value": value,
                "ci": interval,
                "verdict": verdict,
                "reason": reason,
            }
        verdict = worst([entry["verdict"] for entry in metrics.values()])
        mitigation = None
        if verdict != PASS and hints:
            mitigation = {"reweighing": reweighing_weights(priv, unpriv[m], total)}
            if outcomes.score is not None:
                if at_least is None:
                    at_least = _score_histogram(unit, outcomes, score_bins())
                mitigation["thresholds"] = threshold_preview(
                    at_least, unit.privileged, member, policy
                )
        comparisons.append(
            {
                "kind": "aggregate" if m == 0 else "group",
                "unprivileged": [json_value(unit.values[g]) for g in member],
                "privileged_count": int(priv.sum()),
                "unprivileged_count": unpriv_size,
                "metrics": metrics,
                "data_bias": {
                    "statistical_parity_difference": number(point["base_rate_difference"][m]),
                    "disparate_impact": number(point["base_rate_ratio"][m]),
                },
                "verdict": verdict,
                "mitigation": mitigation,
            }
        )
    return {
        "columns": list(unit.columns),
        "privileged": [
            json_value(v) for v, p in zip(unit.values, unit.privileged, strict=True) if p
        ],
        "groups": groups,
        "comparisons": comparisons,
        "verdict": worst([c["verdict"] for c in comparisons]),
    }


def kpi_values(result: Mapping[str, Any]) -> dict[str, float]:
    """Flatten a fairness report into KPI keys such as fairness.sex.disparate_impact."""
    values: dict[str, float | None] = {"fairness.theil_index": result.get("theil_index")}
    sections = {**result.get("attributes", {}), **result.get("intersections", {})}
    for name, section in sections.items():
        for comparison in section["comparisons"]:
            if comparison["kind"] == "aggregate":
                prefix = f"fairness.{name}"
            else:
                (value,) = comparison["unprivileged"]
                shown = "&".join(map(str, value)) if isinstance(value, list) else value
                prefix = f"fairness.{name}[{shown}]"
            for metric, entry in comparison["metrics"].items():
                values[f"{prefix}.{metric}"] = entry["value"]
            for metric, value in comparison["data_bias"].items():
                values[f"{prefix}.data_bias.{metric}"] = value
    return {k: float(v) for k, v in values.items() if v is not None}
