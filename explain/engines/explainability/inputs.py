"""Inputs shared by the SHAP and LIME reports: validation, group membership, the explained
class, and the small helpers that keep their JSON plain (floats rounded, no NaN)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

Progress = Callable[[float, str], None]
ProtectedInput: TypeAlias = pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray | pd.Series]

PRIVILEGED, UNPRIVILEGED = "privileged", "unprivileged"
_DIGITS = 12


@dataclass(frozen=True)
class _Inputs:
    """Validated inputs shared by both reports."""

    X: pd.DataFrame
    features: list[str]
    membership: dict[str, np.ndarray]  # attribute -> True where the row is privileged
    privileged_values: dict[str, list[str]]
    classes: list[Any]
    positive_index: int

    @property
    def positive_class(self) -> Any:
        """The class whose probability (or log-odds) is explained."""
        return self.classes[self.positive_index]


def _num(value: Any) -> float | None:
    """A plain rounded float, or None for NaN/inf so the JSON never holds NaN."""
    number = float(value)
    if not math.isfinite(number):
        return None
    return round(number, _DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _plain(value: Any) -> Any:
    """A numpy scalar as the matching Python scalar, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _as_text(values: pd.Series) -> pd.Series:
    """Values as text, with whole floats written as integers so 1.0 matches 1."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype(str)


def _label_text(value: Any) -> str:
    """A class label as text, with whole floats written as integers so 1.0 matches "1"."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _check_features(X: pd.DataFrame) -> pd.DataFrame:
    """Refuse non-numeric feature columns, naming them."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of feature columns.")
    if X.empty:
        raise ValueError("X has no rows or no feature columns.")
    bad = [
        str(c)
        for c, dtype in X.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if bad:
        raise ValueError(f"Feature columns must be numeric; not numeric: {', '.join(bad)}.")
    return X


def _prepare(
    model: Any,
    X: pd.DataFrame,
    protected: ProtectedInput,
    privileged: Mapping[str, Sequence[Any]],
    positive_class: Any,
) -> _Inputs:
    """Check the inputs and work out group membership and the explained class."""
    X = _check_features(X)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"{type(model).__name__} has no predict_proba.")
    classes = [_plain(c) for c in getattr(model, "classes_", [])]
    if len(classes) != 2:
        raise ValueError(f"Only binary classifiers are supported; classes: {classes}.")
    if positive_class is None:
        positive_index = 1
    elif positive_class in classes:
        positive_index = classes.index(positive_class)
    elif (label := _label_text(positive_class)) in (texts := [_label_text(c) for c in classes]):
        positive_index = texts.index(label)  # "1" from a form or CSV names class 1
    else:
        raise ValueError(f"positive_class {positive_class!r} is not one of {classes}.")

    columns = dict(protected.items()) if isinstance(protected, pd.DataFrame) else protected
    if not columns:
        raise ValueError("At least one protected attribute is needed.")
    membership: dict[str, np.ndarray] = {}
    privileged_values: dict[str, list[str]] = {}
    for name, values in columns.items():
        # A Series is read as it is (no round trip through an object array).
        series = (
            values.reset_index(drop=True)
            if isinstance(values, pd.Series)
            else pd.Series(np.asarray(values))
        )
        if len(series) != len(X):
            raise ValueError(
                f"Protected attribute {name!r} has {len(series)} rows; X has {len(X)}."
            )
        if name not in privileged:
            raise ValueError(f"No privileged values given for protected attribute {name!r}.")
        raw = privileged[name]
        given = [raw] if isinstance(raw, str | bytes) or np.isscalar(raw) else list(raw)
        wanted = sorted(set(_as_text(pd.Series(given))))
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
            # Integers: their text is str(int), so compare numbers (one pass per value).
            membership[str(name)] = _integer_membership(series.to_numpy(), wanted)
        elif pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            # Other numbers: each distinct value written as text once, not each row.
            codes, distinct = pd.factorize(series, use_na_sentinel=False)
            texts = _as_text(pd.Series(distinct, dtype=series.dtype))
            membership[str(name)] = texts.isin(wanted).to_numpy()[codes]
        else:  # text already: matched as it is
            membership[str(name)] = _as_text(series).isin(wanted).to_numpy()
        privileged_values[str(name)] = wanted
    return _Inputs(
        X=X,
        features=[str(c) for c in X.columns],
        membership=membership,
        privileged_values=privileged_values,
        classes=classes,
        positive_index=positive_index,
    )


def _integer_membership(values: np.ndarray, wanted: list[str]) -> np.ndarray:
    """Rows of an integer array whose text is one of ``wanted``."""
    info = np.iinfo(values.dtype)
    member = np.zeros(len(values), dtype=bool)
    for text in wanted:
        try:
            number = int(text)
        except ValueError:
            continue
        if str(number) == text and info.min <= number <= info.max:
            member |= values == number
    return member


def _predict_positive(model: Any, X: pd.DataFrame, positive_index: int) -> np.ndarray:
    """Predicted probability of the positive class for every row of ``X``."""
    return np.asarray(model.predict_proba(X), dtype=float)[:, positive_index]


def _proba_function(model: Any, columns: pd.Index) -> Callable[[np.ndarray], np.ndarray]:
    """``predict_proba`` over plain arrays, re-labelled when the model knows column names."""
    if hasattr(model, "feature_names_in_"):
        return lambda rows: model.predict_proba(pd.DataFrame(rows, columns=columns))
    return lambda rows: model.predict_proba(np.asarray(rows))


def _describe_model(model: Any) -> str:
    """A short name such as ``Pipeline(StandardScaler, LogisticRegression)``."""
    steps = getattr(model, "steps", None)
    if steps:
        inner = ", ".join(
            type(step).__name__ for _, step in steps if step not in (None, "passthrough")
        )
        return f"{type(model).__name__}({inner})"
    return type(model).__name__


def _report(progress: Progress | None, fraction: float, stage: str) -> None:
    """Call the progress callback, if any."""
    if progress is not None:
        progress(fraction, stage)
