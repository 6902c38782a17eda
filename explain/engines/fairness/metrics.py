"""The metric definitions: per-group rates and AIF360's comparison metrics, all functions of
confusion counts shaped (..., 4) in TN, FP, FN, TP order."""

from __future__ import annotations

import math

import numpy as np

from .inputs import FN, FP, TN, TP, divide, number

METRICS = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
)


def group_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates from confusion counts shaped (..., 4) in TN, FP, FN, TP order."""
    c = counts.astype(np.float64)
    tn, fp, fn, tp = c[..., TN], c[..., FP], c[..., FN], c[..., TP]
    n = tn + fp + fn + tp
    return {
        "count": n,
        "base_rate": divide(fn + tp, n),
        "selection_rate": divide(fp + tp, n),
        "tpr": divide(tp, tp + fn),
        "fpr": divide(fp, fp + tn),
        "precision": divide(tp, tp + fp),
        "accuracy": divide(tp + tn, n),
    }


def comparison_metrics(priv: np.ndarray, unpriv: np.ndarray) -> dict[str, np.ndarray]:
    """AIF360's unprivileged-vs-privileged metrics; priv is (..., 4), unpriv is (..., M, 4)."""
    p = group_rates(priv[..., None, :])
    u = group_rates(unpriv)
    tpr_diff = u["tpr"] - p["tpr"]
    fpr_diff = u["fpr"] - p["fpr"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "statistical_parity_difference": u["selection_rate"] - p["selection_rate"],
            "disparate_impact": u["selection_rate"] / p["selection_rate"],
            "equal_opportunity_difference": tpr_diff,
            "average_odds_difference": 0.5 * (fpr_diff + tpr_diff),
            "base_rate_difference": u["base_rate"] - p["base_rate"],
            "base_rate_ratio": u["base_rate"] / p["base_rate"],
        }


def theil_index(counts: np.ndarray) -> float | None:
    """ClassificationMetric.theil_index from total confusion counts (benefit b = yhat - y + 1)."""
    c = counts.astype(np.float64)
    n = c.sum()
    n1 = c[TN] + c[TP]  # b = 1
    n2 = c[FP]  # b = 2; b = 0 (false negatives) contributes 0 * log(0) = 0
    mu = (n1 + 2 * n2) / n if n else 0.0
    if mu == 0:
        return None
    return number((n1 * math.log(1 / mu) + 2 * n2 * math.log(2 / mu)) / (n * mu))
