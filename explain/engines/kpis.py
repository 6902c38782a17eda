"""The values a KPI report measures, computed in one pass: the data is reduced once to the
fairness engine's (group x cell) strata, and the performance metrics and fairness point
estimates are both read from those counts (ROC AUC from one sort by score)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import fairness, performance
from .fairness.inputs import ProgressCallback, as_frame, outcomes_from
from .fairness.report import Prepared, fairness_report_from, prepare


def computed_kpis(
    data: pd.DataFrame | Mapping[str, Any],
    *,
    label: str,
    prediction: str,
    favorable_label: Any,
    protected: Mapping[str, Mapping[str, Any]],
    score: str | None = None,
    policy: fairness.FairnessPolicy | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, float]:
    """Performance and fairness KPI values, exactly as ``performance.kpi_values`` of a
    performance report and ``fairness.kpi_values`` of a fairness report without bootstrap."""
    report_progress: ProgressCallback = progress or (lambda percent, message: None)
    frame = as_frame(data)
    columns = dict(label=label, prediction=prediction, favorable_label=favorable_label)
    missing = [c for c in protected if c not in frame.columns]
    if missing:  # the performance report's checks, in its order
        outcomes_from(frame, **columns, score=score)
        raise ValueError(f"protected attribute columns not found: {missing}")
    if policy is None or isinstance(policy, Mapping):
        policy = fairness.FairnessPolicy.from_dict(policy)
    report_progress(20, "computing performance")
    prepared = prepare(frame, **columns, protected=protected, score=score)
    return kpis_from(prepared, favorable_label=favorable_label, policy=policy)


def kpis_from(
    prepared: Prepared,
    *,
    favorable_label: Any,
    policy: fairness.FairnessPolicy,
    performance_result: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """The KPI values of data already reduced by ``prepare``, reading the performance report of
    the same strata when one was computed (``performance_result``) instead of computing it."""
    perf = performance_result
    if perf is None:
        perf = performance.performance_report_from(prepared, favorable_label=favorable_label)
    fair = fairness_report_from(
        prepared,
        favorable_label=favorable_label,
        policy=policy,
        bootstrap_samples=0,
        seed=0,
        progress=lambda percent, message: None,
        mitigation=False,
    )
    return {**performance.kpi_values(perf), **fairness.kpi_values(fair)}
