"""Mitigation hints for a failing comparison: reweighing weights and a threshold preview."""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import FN, FP, TN, TP, Outcomes, divide, number
from .policy import FairnessPolicy
from .strata import _Unit

# Score thresholds tried by the threshold preview; the privileged group stays at 0.5.
THRESHOLD_GRID = np.arange(1001) / 1000
_BASE_THRESHOLD_INDEX = 500


def reweighing_weights(priv: np.ndarray, unpriv: np.ndarray, total: np.ndarray) -> dict[str, Any]:
    """Reweighing's weights w = P(group) P(label) / P(group, label), as AIF360 computes them."""
    n = float(total.sum())
    n_fav = float(total[FN] + total[TP])
    n_unfav = float(total[TN] + total[FP])

    def side(counts: np.ndarray) -> dict[str, float | None]:
        size = float(counts.sum())
        fav = float(counts[FN] + counts[TP])
        unfav = float(counts[TN] + counts[FP])
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "favorable": number(np.float64(n_fav * size) / np.float64(n * fav)),
                "unfavorable": number(np.float64(n_unfav * size) / np.float64(n * unfav)),
            }

    return {"privileged": side(priv), "unprivileged": side(unpriv)}


def _grid_bins(score: np.ndarray) -> np.ndarray:
    """Index of the last grid threshold at or below each score in [0, 1], exactly as
    ``np.searchsorted(THRESHOLD_GRID, score, side="right") - 1`` but without a binary search:
    ``score * 1000`` is off by at most one bin from the answer, and one comparison each way
    against the grid itself corrects it."""
    last = len(THRESHOLD_GRID) - 1
    k = np.clip(np.floor(score * last), 0, last).astype(np.int64)
    k -= THRESHOLD_GRID[k] > score
    k += (k < last) & (THRESHOLD_GRID[np.minimum(k + 1, last)] <= score)
    return k


def _score_histogram(unit: _Unit, outcomes: Outcomes, bins: np.ndarray) -> np.ndarray:
    """Rows with score >= each grid threshold, per group and label: shape (G, 2, T)."""
    t = len(THRESHOLD_GRID)
    key = (unit.row_codes() * 2 + outcomes.y_true) * t + bins
    hist = np.bincount(key, minlength=unit.n_groups * 2 * t).reshape(unit.n_groups, 2, t)
    return np.cumsum(hist[..., ::-1], axis=-1)[..., ::-1]


def threshold_preview(
    at_least: np.ndarray,
    privileged: np.ndarray,
    members: np.ndarray,
    policy: FairnessPolicy,
) -> dict[str, Any]:
    """Preview one threshold for the unprivileged side, privileged fixed at 0.5."""
    priv = at_least[privileged].sum(axis=0)  # (2, T): label unfavorable / favorable
    unpriv = at_least[members].sum(axis=0)
    base = _BASE_THRESHOLD_INDEX
    n_p, pos_p = priv[:, 0].sum(), priv[1, 0]
    n_u, pos_u = unpriv[:, 0].sum(), unpriv[1, 0]
    sel_p = divide(priv[:, base].sum(), n_p)
    tpr_p = divide(priv[1, base], pos_p)
    sel_u = divide(unpriv.sum(axis=0), n_u)
    tpr_u = divide(unpriv[1], pos_u)
    di = divide(sel_u, sel_p)
    spd = sel_u - sel_p
    eod = tpr_u - tpr_p

    def at(k: int | None) -> dict[str, Any] | None:
        if k is None:
            return None
        return {
            "threshold": float(THRESHOLD_GRID[k]),
            "disparate_impact": number(di[k]),
            "statistical_parity_difference": number(spd[k]),
            "equal_opportunity_difference": number(eod[k]),
        }

    distance = np.where(np.isfinite(di), np.abs(di - 1), np.inf)
    if not np.isfinite(distance).any():
        return {"rule": "favorable when score >= threshold", "available": False}
    move = np.abs(THRESHOLD_GRID - 0.5)
    closest = int(np.lexsort((move, distance))[0])
    low, high = policy.band("disparate_impact")
    in_band = np.flatnonzero((di >= low) & (di <= high))
    nearest = int(in_band[np.argmin(move[in_band])]) if len(in_band) else None
    return {
        "rule": "favorable when score >= threshold",
        "available": True,
        "privileged_threshold": 0.5,
        "baseline": at(base),
        "closest_to_parity": at(closest),
        "smallest_change_into_band": at(nearest),
    }
