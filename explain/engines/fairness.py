"""Fairness report engine: AIF360's group metrics, computed from confusion counts.

Every metric here is a function of per-group confusion counts (TN, FP, FN, TP), so the data
set is reduced once to counts per (group x cell) stratum and everything else, including the
bootstrap, works on those counts. Definitions follow aif360 0.6.1 (``ClassificationMetric``,
``BinaryLabelDatasetMetric``, ``Reweighing``); the unit tests check them against AIF360 itself.
The one deliberate difference: a 0/0 (for example the precision of a group with no favorable
predictions, which AIF360 reports as 0.0) is reported as ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

ProgressCallback = Callable[[int, str], None]

ENGINE_VERSION = "gatehouse-fairness/1"

# Confusion cells, coded as 2 * (label is favorable) + (prediction is favorable).
TN, FP, FN, TP = 0, 1, 2, 3

METRICS = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
)

PASS, INCONCLUSIVE, FAIL = "pass", "inconclusive", "fail"
_SEVERITY = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}

# Score thresholds tried by the threshold preview; the privileged group stays at 0.5.
THRESHOLD_GRID = np.arange(1001) / 1000
_BASE_THRESHOLD_INDEX = 500

# Bound the (bootstrap samples x strata) block held in memory at once.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class FairnessPolicy:
    """Acceptance bands for the group fairness metrics and the minimum group size."""

    disparate_impact_min: float = 0.8
    disparate_impact_max: float = 1.25
    statistical_parity_difference_max: float = 0.1
    equal_opportunity_difference_max: float = 0.1
    average_odds_difference_max: float = 0.1
    min_group_size: int = 30
    confidence_level: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.disparate_impact_min <= 1 <= self.disparate_impact_max:
            raise ValueError("disparate impact band must satisfy 0 < min <= 1 <= max")
        for name in (
            "statistical_parity_difference_max",
            "equal_opportunity_difference_max",
            "average_odds_difference_max",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if isinstance(self.min_group_size, bool) or not isinstance(self.min_group_size, int):
            raise ValueError("min_group_size must be an integer")
        if self.min_group_size < 0:
            raise ValueError("min_group_size must not be negative")
        if not 0 < self.confidence_level < 1:
            raise ValueError("confidence_level must be between 0 and 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FairnessPolicy:
        """Build a policy from a stored dict; missing keys take defaults, unknown keys fail."""
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fairness policy keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as a JSON-serialisable dict."""
        return asdict(self)

    def band(self, metric: str) -> tuple[float, float]:
        """Return the inclusive acceptance band of a metric."""
        if metric == "disparate_impact":
            return (self.disparate_impact_min, self.disparate_impact_max)
        limit = getattr(self, f"{metric}_max")
        return (-limit, limit)


@dataclass(frozen=True)
class Outcomes:
    """Favorable-outcome indicators of labels and predictions, with optional scores."""

    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray | None


@dataclass
class _Unit:
    """One attribute or intersection: its groups and where its strata sit in the joint table."""

    name: str
    columns: tuple[str, ...]
    values: list[Any]
    privileged: np.ndarray
    stratum_target: np.ndarray
    row_codes: Callable[[], np.ndarray]

    @property
    def n_groups(self) -> int:
        return len(self.values)


def as_frame(data: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    """Accept a DataFrame or a mapping of column name to array."""
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame(dict(data))


def outcomes_from(
    frame: pd.DataFrame,
    *,
    label: str,
    prediction: str,
    favorable_label: Any,
    score: str | None = None,
) -> Outcomes:
    """Validate the label, prediction and score columns and reduce them to indicators."""
    columns = [label, prediction] + ([score] if score is not None else [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"columns not found: {missing}")
    if len(frame) == 0:
        raise ValueError("the data set has no rows")
    labels, predictions = frame[label], frame[prediction]
    for name, series in ((label, labels), (prediction, predictions)):
        if series.isna().any():
            raise ValueError(f"column {name!r} has missing values")
    values = pd.unique(pd.concat([labels.drop_duplicates(), predictions.drop_duplicates()]))
    if len(values) > 2:
        raise ValueError(f"labels and predictions must be binary; found {list(values)[:5]}")
    if len(values) == 2 and not any(v == favorable_label for v in values):
        raise ValueError(f"favorable_label {favorable_label!r} not in {list(values)}")
    scores = None
    if score is not None:
        scores = pd.to_numeric(frame[score], errors="raise").to_numpy(dtype=np.float64)
        if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
            raise ValueError(f"column {score!r} must hold probabilities in [0, 1]")
    return Outcomes(
        y_true=labels.eq(favorable_label).to_numpy(dtype=bool),
        y_pred=predictions.eq(favorable_label).to_numpy(dtype=bool),
        score=scores,
    )


def encode_groups(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Encode a column to integer group codes once; missing values form their own group."""
    try:
        codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=False)
    except TypeError:  # mixed, unorderable values
        codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), list(uniques)


def json_value(value: Any) -> Any:
    """Turn a group value into something JSON can hold."""
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def number(value: Any) -> float | None:
    """Return a plain float, or None for NaN, infinity and missing values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def divide(num: Any, den: Any) -> np.ndarray:
    """Divide elementwise, giving NaN or infinity instead of warnings for zero denominators."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(num, den)


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


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _parse_protected(
    frame: pd.DataFrame, protected: Mapping[str, Mapping[str, Any]]
) -> dict[Any, list[Any]]:
    if not protected:
        raise ValueError("at least one protected attribute is required")
    parsed: dict[Any, list[Any]] = {}
    for column, spec in protected.items():
        if column not in frame.columns:
            raise ValueError(f"protected attribute column {column!r} not found")
        if not isinstance(spec, Mapping) or "privileged" not in spec:
            raise ValueError(f"protected attribute {column!r} needs {{'privileged': [...]}}")
        values = spec["privileged"]
        if isinstance(values, str) or not isinstance(values, Sequence):
            values = [values]
        parsed[column] = list(values)
    return parsed


def _joint_strata(
    codes: list[np.ndarray], cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count rows per (joint group x cell) stratum; return counts, first row and cell of each."""
    key = np.zeros(len(cell), dtype=np.int64)
    span = 1
    for c in codes:
        size = int(c.max()) + 1
        if span * size * 4 >= 2**62:  # keep the mixed-radix key inside int64
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            span = int(key.max()) + 1
        key = key * size + c
        span *= size
    key = key * 4 + cell
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return counts.astype(np.int64), first, cell[first]


def _aggregate(strata_counts: np.ndarray, target: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum joint-stratum counts shaped (..., K) into unit strata shaped (..., G, 4)."""
    order = np.argsort(target, kind="stable")
    sorted_target = target[order]
    starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
    out = np.zeros((*strata_counts.shape[:-1], n_groups * 4), dtype=np.int64)
    out[..., sorted_target[starts]] = np.add.reduceat(strata_counts[..., order], starts, axis=-1)
    return out.reshape(*strata_counts.shape[:-1], n_groups, 4)


def _comparison_sides(
    counts: np.ndarray, privileged: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Privileged totals, and the unprivileged side of each comparison (aggregate first)."""
    priv = counts[..., privileged, :].sum(axis=-2)
    others = np.flatnonzero(~privileged)
    members = [others]
    sides = [counts[..., others, :].sum(axis=-2)]
    if len(others) > 1:
        for g in others:
            members.append(np.array([g]))
            sides.append(counts[..., g, :])
    return priv, np.stack(sides, axis=-2), members


def _build_units(
    frame: pd.DataFrame, privileged: dict[Any, list[Any]], cell: np.ndarray
) -> tuple[list[_Unit], np.ndarray, list[str]]:
    """Encode attributes once, count joint strata, and map strata to attributes and pairs."""
    warnings: list[str] = []
    encoded: dict[Any, tuple[np.ndarray, list[Any], np.ndarray]] = {}
    for column, priv_values in privileged.items():
        codes, values = encode_groups(frame[column])
        for p in priv_values:
            if not any(_same(v, p) for v in values):
                warnings.append(f"privileged value {p!r} of {column!r} does not occur in the data")
                values.append(p)  # an empty group, so the report shows it
        flags = np.array([any(_same(v, p) for p in priv_values) for v in values], dtype=bool)
        encoded[column] = (codes, values, flags)
    columns = list(encoded)
    strata_counts, first_row, strata_cell = _joint_strata([encoded[c][0] for c in columns], cell)
    strata_codes = {c: encoded[c][0][first_row] for c in columns}

    units: list[_Unit] = []
    for column in columns:
        codes, values, flags = encoded[column]
        units.append(
            _Unit(
                name=str(column),
                columns=(str(column),),
                values=values,
                privileged=flags,
                stratum_target=strata_codes[column] * 4 + strata_cell,
                # mypy cannot type a lambda whose defaults bind the loop's values.
                row_codes=lambda codes=codes: codes,  # type: ignore[misc]
            )
        )
    for a, b in combinations(columns, 2):
        codes_a, values_a, flags_a = encoded[a]
        codes_b, values_b, flags_b = encoded[b]
        size_b = len(values_b)
        raw = strata_codes[a] * size_b + strata_codes[b]
        observed, compact = np.unique(raw, return_inverse=True)
        lookup = np.full(len(values_a) * size_b, -1, dtype=np.int64)
        lookup[observed] = np.arange(len(observed))
        ia, ib = np.divmod(observed, size_b)
        units.append(
            _Unit(
                name=f"{a}&{b}",
                columns=(str(a), str(b)),
                values=[(values_a[i], values_b[j]) for i, j in zip(ia, ib, strict=True)],
                privileged=flags_a[ia] & flags_b[ib],
                stratum_target=compact * 4 + strata_cell,
                row_codes=lambda ca=codes_a, cb=codes_b, lk=lookup, s=size_b: lk[ca * s + cb],  # type: ignore[misc]
            )
        )
    return units, strata_counts, warnings


def _bootstrap(
    strata_counts: np.ndarray,
    units: list[_Unit],
    *,
    samples: int,
    seed: int,
    progress: ProgressCallback,
) -> list[dict[str, np.ndarray]]:
    """Bootstrap replicates of each unit's comparison metrics, each shaped (samples, M).

    Resampling n rows with replacement gives each row a multiplicity, and the number of
    resampled rows that fall in each (joint group x confusion cell) stratum is then exactly
    Multinomial(n, stratum_count / n). Every metric is a function of those stratum counts, so
    drawing the counts directly is the same bootstrap as resampling rows, at
    O(samples x strata) cost instead of O(samples x n), with no index arrays. Drawing on the
    joint strata of all attributes keeps one resample shared by every attribute and
    intersection, as with resampling the whole data set.
    """
    n = int(strata_counts.sum())
    pvals = strata_counts / n
    rng = np.random.default_rng(seed)
    block = max(1, min(samples, _BOOTSTRAP_BLOCK_CELLS // len(strata_counts)))
    replicates: list[dict[str, np.ndarray]] = [{} for _ in units]
    done = 0
    while done < samples:
        size = min(block, samples - done)
        draws = rng.multinomial(n, pvals, size=size)
        for unit, store in zip(units, replicates, strict=True):
            counts = _aggregate(draws, unit.stratum_target, unit.n_groups)
            priv, unpriv, _ = _comparison_sides(counts, unit.privileged)
            for metric, values in comparison_metrics(priv, unpriv).items():
                if metric in METRICS:
                    store.setdefault(metric, np.empty((samples, values.shape[-1])))
                    store[metric][done : done + size] = values
        done += size
        progress(20 + int(70 * done / samples), f"bootstrap {done}/{samples}")
    return replicates


def _intervals(values: np.ndarray, level: float) -> list[list[float] | None]:
    """Percentile intervals per column; None where any replicate is undefined."""
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        bounds = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    defined = np.isfinite(values).all(axis=0)
    return [
        [float(bounds[0, m]), float(bounds[1, m])] if defined[m] else None
        for m in range(values.shape[1])
    ]


def metric_verdict(
    metric: str,
    value: float | None,
    interval: list[float] | None,
    *,
    groups_large_enough: bool,
    policy: FairnessPolicy,
) -> tuple[str, str]:
    """Apply the policy to one metric: verdict and a short reason."""
    low, high = policy.band(metric)
    if value is None:
        return INCONCLUSIVE, "undefined (a group has no rows or no cases to compare)"
    if not groups_large_enough:
        return INCONCLUSIVE, f"a group has fewer than {policy.min_group_size} rows"
    if not low <= value <= high:
        return FAIL, f"{value:.4g} is outside [{low:g}, {high:g}]"
    if interval is None:
        return INCONCLUSIVE, "no confidence interval (bootstrap off or undefined replicates)"
    if low <= interval[0] and interval[1] <= high:
        return PASS, f"interval inside [{low:g}, {high:g}]"
    return INCONCLUSIVE, f"interval straddles a bound of [{low:g}, {high:g}]"


def worst(verdicts: Sequence[str]) -> str:
    """Combine verdicts: fail beats inconclusive beats pass; nothing to judge is inconclusive."""
    return max(verdicts, key=_SEVERITY.__getitem__) if verdicts else INCONCLUSIVE


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

    frame = as_frame(data)
    outcomes = outcomes_from(
        frame, label=label, prediction=prediction, favorable_label=favorable_label, score=score
    )
    privileged = _parse_protected(frame, protected)
    cell = outcomes.y_true.astype(np.int64) * 2 + outcomes.y_pred
    units, strata_counts, warnings = _build_units(frame, privileged, cell)
    total = np.bincount(cell, minlength=4)
    report_progress(20, "counted groups")

    replicates: list[dict[str, np.ndarray]] = [{} for _ in units]
    if bootstrap_samples:
        replicates = _bootstrap(
            strata_counts, units, samples=bootstrap_samples, seed=seed, progress=report_progress
        )

    bins = None
    if outcomes.score is not None:
        bins = np.searchsorted(THRESHOLD_GRID, outcomes.score, side="right") - 1

    sections: dict[str, dict[str, Any]] = {}
    for unit, reps in zip(units, replicates, strict=True):
        sections[unit.name] = _unit_section(
            unit, strata_counts, total, reps, outcomes, bins, policy
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
    bins: np.ndarray | None,
    policy: FairnessPolicy,
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
        if verdict != PASS:
            mitigation = {"reweighing": reweighing_weights(priv, unpriv[m], total)}
            if bins is not None:
                if at_least is None:
                    at_least = _score_histogram(unit, outcomes, bins)
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
