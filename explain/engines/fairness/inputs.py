"""The inputs of a fairness (or performance) report: a frame, its label, prediction and score
columns reduced to favorable-outcome indicators, group codes, and JSON-safe numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

ProgressCallback = Callable[[int, str], None]

# Confusion cells, coded as 2 * (label is favorable) + (prediction is favorable).
TN, FP, FN, TP = 0, 1, 2, 3


@dataclass(frozen=True)
class Outcomes:
    """Favorable-outcome indicators of labels and predictions, with optional scores."""

    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray | None


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
