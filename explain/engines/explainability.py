"""SHAP (global) and LIME (local) explanations of a binary classifier, as JSON-ready dicts.

Pure computation: an estimator, a DataFrame of numeric features and the protected
attributes go in; plain dicts (floats rounded, no NaN) come out, identical for identical
input. Row ids are positions in ``X``.

Costs: TreeExplainer and LinearExplainer are exact and fast. The PermutationExplainer
fallback calls the model about ten times per explained row, and the first use in a process
also compiles SHAP's numba kernels (seconds); the worker runs it under Celery time limits.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

Progress = Callable[[float, str], None]
ProtectedInput: TypeAlias = pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray | pd.Series]

PRIVILEGED, UNPRIVILEGED = "privileged", "unprivileged"
SCALE_NAMES = {"log_odds": "log-odds", "probability": "probability"}
# Quantile bins used to discretise a numeric feature before measuring mutual information.
PROXY_BINS = 10
_DIGITS = 12


@dataclass(frozen=True)
class ShapOutput:
    """A SHAP report (``result``, JSON-ready) and the raw matrix behind it, for plots."""

    result: dict[str, Any]
    values: np.ndarray
    X_sample: pd.DataFrame
    base_value: float


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


@dataclass(frozen=True)
class _Plan:
    """Which SHAP explainer to run, on what, and on which output scale."""

    kind: str  # "tree" | "linear" | "permutation"
    estimator: Any
    transform: Callable[[pd.DataFrame], Any] | None
    reason: str


# ---------------------------------------------------------------------------- inputs


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
        for c in X.columns
        if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
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
        series = pd.Series(np.asarray(values)).reset_index(drop=True)
        if len(series) != len(X):
            raise ValueError(
                f"Protected attribute {name!r} has {len(series)} rows; X has {len(X)}."
            )
        if name not in privileged:
            raise ValueError(f"No privileged values given for protected attribute {name!r}.")
        raw = privileged[name]
        given = [raw] if isinstance(raw, str | bytes) or np.isscalar(raw) else list(raw)
        wanted = sorted(set(_as_text(pd.Series(given))))
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


# ---------------------------------------------------------------------------- sampling


def _allocate(sizes: np.ndarray, cap: int) -> np.ndarray:
    """Proportional quotas summing to ``cap``, at least one per stratum when room allows."""
    cap = min(cap, int(sizes.sum()))
    exact = cap * sizes / sizes.sum()
    quota = np.floor(exact).astype(int)
    if cap >= len(sizes):
        quota = np.maximum(quota, 1)
    quota = np.minimum(quota, sizes)
    # Largest remainders first; ties go to the earlier stratum (stable sort).
    order = np.argsort(-(exact - quota), kind="stable")
    while quota.sum() < cap:
        for i in order:
            if quota.sum() < cap and quota[i] < sizes[i]:
                quota[i] += 1
    while quota.sum() > cap:
        for i in np.argsort(-(quota - exact), kind="stable"):
            if quota.sum() > cap and quota[i] > 1:
                quota[i] -= 1
    return quota


def _stratified_sample(
    inputs: _Inputs, model: Any, max_rows: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Row positions to explain, and a record of how they were chosen."""
    total = len(inputs.X)
    record: dict[str, Any] = {"total_rows": total, "max_rows": max_rows, "seed": seed}
    if total <= max_rows:
        rows = np.arange(total)
        record.update(strategy="all rows", explained_rows=total, row_indices=rows.tolist())
        return rows, record

    # The predicted class, not "predicted positive", so the sample is the same whichever
    # class is explained.
    predicted = _predict_positive(model, inputs.X, 1) >= 0.5
    attributes = list(inputs.membership)
    code = predicted.astype(np.int64) << len(attributes)
    for bit, name in enumerate(attributes):
        code |= inputs.membership[name].astype(np.int64) << bit
    keys, sizes = np.unique(code, return_counts=True)
    quota = _allocate(sizes, max_rows)
    rng = np.random.default_rng(seed)
    chosen = []
    strata = []
    for key, size, take in zip(keys, sizes, quota, strict=True):
        members = np.flatnonzero(code == key)
        chosen.append(rng.choice(members, size=int(take), replace=False))
        groups = {
            name: PRIVILEGED if (key >> bit) & 1 else UNPRIVILEGED
            for bit, name in enumerate(attributes)
        }
        label = inputs.classes[key >> len(attributes)]
        strata.append(
            {"groups": groups, "predicted_class": label, "rows": int(size), "sampled": int(take)}
        )
    rows = np.sort(np.concatenate(chosen))
    record.update(
        strategy="stratified by protected group x predicted class, proportional, seeded",
        explained_rows=len(rows),
        strata=strata,
        row_indices=rows.tolist(),
    )
    return rows, record


# ---------------------------------------------------------------------------- SHAP


def _plan(model: Any, inputs: _Inputs) -> _Plan:
    """Pick TreeExplainer, LinearExplainer, or a seeded PermutationExplainer."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        MaxAbsScaler,
        MinMaxScaler,
        PowerTransformer,
        QuantileTransformer,
        RobustScaler,
        StandardScaler,
    )

    elementwise = (
        StandardScaler,
        MinMaxScaler,
        MaxAbsScaler,
        RobustScaler,
        SimpleImputer,
        PowerTransformer,
        QuantileTransformer,
    )
    estimator, transform = model, None
    if isinstance(model, Pipeline):
        head = [step for _, step in model.steps[:-1] if step not in (None, "passthrough")]
        # Column-wise monotone steps keep one column per feature, so SHAP values of the
        # final step are attributions to the original features.
        if all(isinstance(step, elementwise) for step in head):
            width = model[:-1].transform(inputs.X.iloc[:1]).shape[1]
            if width == len(inputs.features):
                estimator, transform = model.steps[-1][1], model[:-1].transform
        if transform is None:
            return _Plan("permutation", model, None, "pipeline reshapes its features")
    kind = _supported_kind(estimator)
    if kind is None:
        return _Plan(
            "permutation", model, None, f"no exact explainer for {type(estimator).__name__}"
        )
    return _Plan(kind, estimator, transform, f"{type(estimator).__name__} is supported exactly")


def _supported_kind(estimator: Any) -> str | None:
    """``tree`` or ``linear`` when SHAP has an exact explainer for ``estimator``."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, SGDClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(estimator, HistGradientBoostingClassifier):
        # SHAP's conversion ignores categorical splits.
        categorical = getattr(estimator, "is_categorical_", None)
        return None if categorical is not None and np.any(categorical) else "tree"
    trees = (
        DecisionTreeClassifier,
        RandomForestClassifier,
        ExtraTreesClassifier,
        GradientBoostingClassifier,
    )
    if isinstance(estimator, trees):
        return "tree"
    if isinstance(estimator, LogisticRegression | LogisticRegressionCV):
        return "linear"
    if isinstance(estimator, SGDClassifier) and estimator.loss == "log_loss":
        return "linear"
    return None


@contextmanager
def _numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (PermutationExplainer uses it) and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _shap_values(
    plan: _Plan,
    inputs: _Inputs,
    rows: np.ndarray,
    *,
    background_rows: int,
    seed: int,
    progress: Progress | None,
) -> tuple[np.ndarray, float, str, dict[str, Any]]:
    """SHAP values of the positive class for ``rows``, its base value, scale and settings."""
    import shap

    X = inputs.X
    X_rows = X if len(rows) == len(X) else X.iloc[rows]
    pos = inputs.positive_index
    if plan.kind == "tree":
        data = X_rows if plan.transform is None else plan.transform(X_rows)
        explainer = shap.TreeExplainer(plan.estimator)
        values = np.asarray(explainer.shap_values(data))
        base = np.ravel(np.asarray(explainer.expected_value, dtype=float))
        scale = str(explainer.model.tree_output)
        settings: dict[str, Any] = {"feature_perturbation": "tree_path_dependent"}
    elif plan.kind == "linear":
        full = X if plan.transform is None else plan.transform(X)
        full = np.asarray(full, dtype=float)
        background = (full.mean(axis=0), np.atleast_2d(np.cov(full, rowvar=False)))
        explainer = shap.LinearExplainer(plan.estimator, background)
        data = full[rows] if len(rows) != len(X) else full
        values = np.asarray(explainer.shap_values(data))
        base = np.ravel(np.asarray(explainer.expected_value, dtype=float))
        scale = "log_odds"
        settings = {"feature_perturbation": "interventional", "background": "all rows (mean)"}
    else:
        background = _background(X, background_rows, seed)
        predict = _proba_function(plan.estimator, X.columns)
        masker = shap.maskers.Independent(background.to_numpy(float), max_samples=len(background))
        # Ten forward-and-backward permutations per row, as SHAP's own "auto" setting.
        max_evals = 10 * (2 * len(inputs.features) + 1)
        with _numpy_global_seed(seed):
            explainer = shap.PermutationExplainer(lambda a: predict(a)[:, pos], masker, seed=seed)
            data = X_rows.to_numpy(float)
            chunks = np.array_split(np.arange(len(data)), max(1, min(20, len(data) // 50)))
            parts = []
            for done, chunk in enumerate(chunks):
                explanation = explainer(data[chunk], max_evals=max_evals, silent=True)
                parts.append((explanation.values, explanation.base_values))
                _report(progress, 0.2 + 0.6 * (done + 1) / len(chunks), "explaining")
        values = np.concatenate([v for v, _ in parts])
        base = np.ravel(np.concatenate([np.ravel(b) for _, b in parts]))[:1]
        scale = "probability"
        settings = {
            "background_rows": len(background),
            "max_evals": max_evals,
            "seed": seed,
        }
    if values.ndim == 3:  # one slice per class, each on the probability scale
        values, base = values[:, :, pos], base[pos : pos + 1]
    elif plan.kind != "permutation" and pos == 0:
        # Single-output tree/linear models explain class 1; class 0 is its mirror image.
        values, base = -values, -base
        if scale == "probability":
            base = 1.0 + base
    return np.asarray(values, dtype=float), float(base[0]), scale, settings


def _background(X: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of rows, in row order, standing in for "feature unknown"."""
    if len(X) <= size:
        return X
    rng = np.random.default_rng(seed)
    return X.iloc[np.sort(rng.choice(len(X), size=size, replace=False))]


def _ranked(features: list[str], importance: np.ndarray) -> list[dict[str, Any]]:
    """Features by descending importance (ties keep column order), with share and rank."""
    total = float(importance.sum())
    order = np.argsort(-importance, kind="stable")
    return [
        {
            "rank": rank,
            "feature": features[i],
            "mean_abs_shap": _num(importance[i]),
            "share": _num(importance[i] / total) if total > 0 else 0.0,
        }
        for rank, i in enumerate(order, start=1)
    ]


def _group_importance(
    inputs: _Inputs, abs_values: np.ndarray, rows: np.ndarray, order: list[str]
) -> dict[str, Any]:
    """Mean |SHAP| per feature for privileged and unprivileged rows, and their difference."""
    out: dict[str, Any] = {}
    for name, member in inputs.membership.items():
        in_sample = member[rows]
        means: dict[str, np.ndarray | None] = {}
        counts = {}
        for group, mask in ((PRIVILEGED, in_sample), (UNPRIVILEGED, ~in_sample)):
            counts[group] = int(mask.sum())
            means[group] = abs_values[mask].mean(axis=0) if mask.any() else None
        index = {f: i for i, f in enumerate(inputs.features)}
        entry: dict[str, Any] = {
            "privileged_values": inputs.privileged_values[name],
            "rows": counts,
            "importance": {
                group: (
                    {f: _num(m[index[f]]) for f in order} if (m := means[group]) is not None else {}
                )
                for group in (PRIVILEGED, UNPRIVILEGED)
            },
            "difference": [],
        }
        priv, unpriv = means[PRIVILEGED], means[UNPRIVILEGED]
        if priv is not None and unpriv is not None:
            diff = unpriv - priv
            ranked = np.argsort(-np.abs(diff), kind="stable")
            entry["difference"] = [
                {
                    "feature": inputs.features[i],
                    "unprivileged": _num(unpriv[i]),
                    "privileged": _num(priv[i]),
                    "difference": _num(diff[i]),
                }
                for i in ranked
            ]
        out[name] = entry
    return out


def _binned(columns: np.ndarray) -> np.ndarray:
    """Integer codes per row of ``columns`` (one feature per row): the values when few,
    else quantile bins; NaN is code 0."""
    codes = np.zeros(columns.shape, dtype=np.int64)
    ordered = np.sort(columns, axis=1)  # NaN sorts last
    present = (~np.isnan(ordered)).sum(axis=1)
    side: Literal["left", "right"]
    for j, column in enumerate(columns):
        values = ordered[j, : present[j]]
        if len(values) == 0:
            continue
        if np.count_nonzero(np.diff(values)) < PROXY_BINS:
            edges, side = np.unique(values), "left"
        else:
            # Lower quantiles, read straight off the sorted values.
            positions = (np.arange(1, PROXY_BINS) * (len(values) - 1)) // PROXY_BINS
            edges, side = np.unique(values[positions]), "right"
        codes[j] = np.searchsorted(edges, column, side=side) + 1
    codes[np.isnan(columns)] = 0
    return codes


def _associations(X: pd.DataFrame, membership: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per attribute and feature: normalised mutual information and |correlation|."""
    columns = np.ascontiguousarray(X.to_numpy(dtype=float).T)  # one feature per row
    codes = _binned(columns)
    if np.isnan(columns).any():
        columns = np.where(np.isnan(columns), np.nanmean(columns, axis=1)[:, None], columns)
    centred = columns - columns.mean(axis=1, keepdims=True)
    spread = np.sqrt((centred**2).sum(axis=1))
    out: dict[str, Any] = {}
    for name, member in membership.items():
        flag = member.astype(np.int64)
        p_flag = np.bincount(flag, minlength=2) / len(flag)
        entropy = -sum(p * math.log(p) for p in p_flag if p > 0)
        mutual = _mutual_information(codes, flag)
        f_centred = flag - flag.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (centred @ f_centred) / (spread * math.sqrt(float(f_centred @ f_centred)))
        corr = np.nan_to_num(corr, nan=0.0)
        out[name] = {
            str(feature): {
                "nmi": _num(min(1.0, mutual[j] / entropy)) if entropy else 0.0,
                "abs_correlation": _num(abs(corr[j])),
            }
            for j, feature in enumerate(X.columns)
        }
    return out


def _mutual_information(codes: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between each row of integer codes and a 0/1 flag."""
    n_features, n = codes.shape
    width = int(codes.max()) + 1
    cells = (codes * 2 + flag) + (np.arange(n_features) * 2 * width)[:, None]
    joint = np.bincount(cells.ravel(), minlength=n_features * 2 * width)
    joint = joint.reshape(n_features, width, 2) / n
    outer = joint.sum(axis=2, keepdims=True) * joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / outer), 0.0)
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)


def _proxy_warnings(
    associations: dict[str, Any],
    ranking: list[dict[str, Any]],
    *,
    threshold: float,
    top_k: int,
    min_share: float,
) -> list[dict[str, Any]]:
    """Features tied to a protected attribute that also carry much of the importance."""
    warnings = []
    for name, table in associations.items():
        for entry in ranking:
            feature = entry["feature"]
            link = table[feature]
            associated = max(link["nmi"] or 0.0, link["abs_correlation"] or 0.0) > threshold
            important = entry["rank"] <= top_k or (entry["share"] or 0.0) >= min_share
            if not (associated and important):
                continue
            warnings.append(
                {
                    "feature": feature,
                    "attribute": name,
                    "nmi": link["nmi"],
                    "abs_correlation": link["abs_correlation"],
                    "rank": entry["rank"],
                    "mean_abs_shap": entry["mean_abs_shap"],
                    "share": entry["share"],
                    "is_protected_attribute": feature == name,
                    "message": (
                        f"{feature} is associated with {name} (NMI {link['nmi']:.2f}, "
                        f"|r| {link['abs_correlation']:.2f}) and ranks #{entry['rank']} in "
                        f"importance ({entry['share']:.0%} of total mean |SHAP|); it may act "
                        f"as a proxy for {name}."
                    ),
                }
            )
    return warnings


def shap_report(
    model: Any,
    X: pd.DataFrame,
    *,
    protected: ProtectedInput,
    privileged: Mapping[str, Sequence[Any]],
    positive_class: Any = None,
    max_rows: int = 2000,
    background_rows: int = 100,
    seed: int = 0,
    proxy_threshold: float = 0.3,
    proxy_top_k: int = 3,
    proxy_min_share: float = 0.05,
    progress: Progress | None = None,
) -> ShapOutput:
    """Global SHAP importance, overall and per protected group, with proxy warnings."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1.")
    inputs = _prepare(model, X, protected, privileged, positive_class)
    _report(progress, 0.0, "sampling")
    plan = _plan(model, inputs)
    rows, sample = _stratified_sample(inputs, model, max_rows, seed)
    _report(progress, 0.2, "explaining")
    values, base, scale, settings = _shap_values(
        plan, inputs, rows, background_rows=background_rows, seed=seed, progress=progress
    )
    _report(progress, 0.8, "summarising")
    abs_values = np.abs(values)
    importance = abs_values.mean(axis=0)
    ranking = _ranked(inputs.features, importance)
    order = [entry["feature"] for entry in ranking]
    associations = _associations(inputs.X, inputs.membership)
    explainer_names = {
        "tree": "TreeExplainer",
        "linear": "LinearExplainer",
        "permutation": "PermutationExplainer",
    }
    result = {
        "method": "shap",
        "explainer": explainer_names[plan.kind],
        "explainer_reason": plan.reason,
        "explainer_settings": settings,
        "model": _describe_model(model),
        "output": scale,
        "output_description": (
            f"SHAP values explain the {SCALE_NAMES.get(scale, scale)} of the positive class "
            f"{inputs.positive_class!r}."
        ),
        "positive_class": inputs.positive_class,
        "base_value": _num(base),
        "features": inputs.features,
        "sample": sample,
        "global_importance": ranking,
        "groups": _group_importance(inputs, abs_values, rows, order),
        "proxies": {
            "threshold": proxy_threshold,
            "top_k": proxy_top_k,
            "min_share": proxy_min_share,
            "measures": {
                "nmi": (
                    f"mutual information between the feature ({PROXY_BINS} quantile bins) and "
                    "privileged/unprivileged membership, divided by the entropy of membership"
                ),
                "abs_correlation": "|Pearson correlation| with membership (point-biserial)",
            },
            "warnings": _proxy_warnings(
                associations,
                ranking,
                threshold=proxy_threshold,
                top_k=proxy_top_k,
                min_share=proxy_min_share,
            ),
            "associations": associations,
        },
    }
    _report(progress, 1.0, "done")
    X_sample = inputs.X.iloc[rows].set_axis(rows, axis=0)
    return ShapOutput(result=result, values=values, X_sample=X_sample, base_value=base)


# ---------------------------------------------------------------------------- plots


def shap_plots(output: ShapOutput, *, max_display: int = 15) -> dict[str, bytes]:
    """SVG bar plot of global importance and a beeswarm plot of the SHAP values."""
    import matplotlib

    matplotlib.use("Agg")  # headless; the scatter is rasterised inside the SVG by Agg
    from matplotlib.figure import Figure

    # Figures are made without pyplot, so no global figure state is kept or leaked.
    features = list(output.X_sample.columns.astype(str))
    importance = np.abs(output.values).mean(axis=0)
    top = np.argsort(-importance, kind="stable")[:max_display][::-1]  # most important on top
    scale = output.result.get("output", "log_odds")
    unit = SCALE_NAMES.get(scale, scale)
    positive = output.result.get("positive_class")
    plots = {}
    # Text stays text in the SVG (smaller, searchable); the page supplies the font.
    style: dict[RcKeyType, Any] = {
        "svg.hashsalt": "gatehouse",
        "svg.fonttype": "none",
        "font.size": 9,
    }
    with matplotlib.rc_context(style):
        fig = Figure(figsize=(7, 0.35 * len(top) + 1.2))
        ax = fig.add_subplot()
        ax.barh(np.arange(len(top)), importance[top], color="#1f77b4")
        ax.set_yticks(np.arange(len(top)), [features[i] for i in top])
        ax.set_xlabel(f"mean |SHAP value| ({unit} of class {positive!r})")
        ax.set_title("Global feature importance")
        fig.tight_layout()
        plots["shap_importance.svg"] = _svg(fig)

        fig = Figure(figsize=(7.5, 0.4 * len(top) + 1.4))
        ax = fig.add_subplot()
        data = output.X_sample.to_numpy(dtype=float)
        for row, i in enumerate(top):
            shap_col = output.values[:, i]
            ax.scatter(
                shap_col,
                row + _swarm_offsets(shap_col),
                c=_colour_scale(data[:, i]),
                cmap="coolwarm",
                vmin=0,
                vmax=1,
                s=8,
                linewidths=0,
                rasterized=True,
            )
        ax.axvline(0, color="#999999", linewidth=0.8)
        ax.set_yticks(np.arange(len(top)), [features[i] for i in top])
        ax.set_xlabel(f"SHAP value (impact on the {unit} of class {positive!r})")
        ax.set_title("SHAP values per row (colour: feature value, blue low, red high)")
        fig.tight_layout()
        plots["shap_beeswarm.svg"] = _svg(fig)
    return plots


def _svg(fig: Any) -> bytes:
    """The figure as SVG bytes, without a timestamp so equal plots are equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, dpi=150)
    return buffer.getvalue()


def _swarm_offsets(values: np.ndarray, bins: int = 100, height: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread rows with similar SHAP values (deterministic)."""
    if len(values) == 0:
        return values
    span = values.max() - values.min()
    quant = np.round(bins * (values - values.min()) / (span + 1e-12)).astype(int)
    order = np.lexsort((np.arange(len(values)), quant))
    offsets = np.zeros(len(values))
    layer, last = 0, None
    for i in order:
        if quant[i] != last:
            layer, last = 0, quant[i]
        offsets[i] = math.ceil(layer / 2) * (1 if layer % 2 else -1)
        layer += 1
    peak = np.abs(offsets).max()
    return offsets * (height / peak) if peak > 0 else offsets


def _colour_scale(column: np.ndarray) -> np.ndarray:
    """Feature values mapped to 0..1 between their 5th and 95th percentiles."""
    finite = column[np.isfinite(column)]
    if len(finite) == 0:
        return np.full(len(column), 0.5)
    low, high = np.percentile(finite, [5, 95])
    if high <= low:
        low, high = finite.min(), finite.max()
    if high <= low:
        return np.full(len(column), 0.5)
    return np.nan_to_num(np.clip((column - low) / (high - low), 0, 1), nan=0.5)


# ---------------------------------------------------------------------------- LIME


def _select_rows(
    inputs: _Inputs, proba: np.ndarray, *, n_borderline: int, per_group: int, seed: int
) -> dict[int, list[str]]:
    """The most borderline rows plus a seeded few per protected group, with reasons."""
    reasons: dict[int, list[str]] = {}
    closeness = np.abs(proba - 0.5)
    for row in np.argsort(closeness, kind="stable")[:n_borderline]:
        reasons.setdefault(int(row), []).append("borderline")
    rng = np.random.default_rng(seed)
    for name, member in inputs.membership.items():
        for group, mask in ((PRIVILEGED, member), (UNPRIVILEGED, ~member)):
            pool = np.array([r for r in np.flatnonzero(mask) if int(r) not in reasons], dtype=int)
            take = min(per_group, len(pool))
            for row in np.sort(rng.choice(pool, size=take, replace=False)) if take else []:
                reasons.setdefault(int(row), []).append(f"{name}: {group}")
    return reasons


def lime_report(
    model: Any,
    X: pd.DataFrame,
    *,
    protected: ProtectedInput,
    privileged: Mapping[str, Sequence[Any]],
    positive_class: Any = None,
    rows: Sequence[int] | None = None,
    n_borderline: int = 5,
    per_group: int = 2,
    num_features: int = 8,
    num_samples: int = 2000,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Local LIME explanations for chosen rows, or exactly ``rows`` (positions in ``X``)."""
    from lime.lime_tabular import LimeTabularExplainer

    inputs = _prepare(model, X, protected, privileged, positive_class)
    missing = [f for f, c in zip(inputs.features, X.columns, strict=True) if X[c].isna().any()]
    if missing:
        raise ValueError(f"LIME needs complete rows; missing values in: {', '.join(missing)}.")
    _report(progress, 0.0, "selecting rows")
    if rows is None:
        proba_all = _predict_positive(model, X, inputs.positive_index)
        reasons = _select_rows(
            inputs, proba_all, n_borderline=n_borderline, per_group=per_group, seed=seed
        )
        chosen = sorted(reasons)
        selection = {"mode": "auto", "n_borderline": n_borderline, "per_group": per_group}
    else:
        chosen = list(dict.fromkeys(int(r) for r in rows))
        bad = [r for r in chosen if not 0 <= r < len(X)]
        if bad:
            raise ValueError(f"Row ids out of range 0..{len(X) - 1}: {bad}.")
        reasons = {r: ["requested"] for r in chosen}
        selection = {"mode": "requested"}
    data = X.to_numpy(dtype=float)
    pos = inputs.positive_index
    predict = _proba_function(model, X.columns)
    chosen_proba: np.ndarray | list[float] = (
        np.asarray(predict(data[chosen]), dtype=float)[:, pos] if chosen else []
    )
    # LIME draws every perturbation from the explainer's RandomState, so each row gets its
    # own explainer in the same starting state: a row's explanation never depends on which
    # rows were explained before it.
    template = LimeTabularExplainer(
        data,
        mode="classification",
        feature_names=inputs.features,
        class_names=[str(c) for c in inputs.classes],
        discretize_continuous=True,
        random_state=seed,
    )
    explained = []
    for done, row in enumerate(chosen):
        explainer = copy.deepcopy(template)
        exp = explainer.explain_instance(
            data[row], predict, labels=(pos,), num_features=num_features, num_samples=num_samples
        )
        conditions = exp.as_list(label=pos)
        indices = [i for i, _ in exp.as_map()[pos]]
        weights = [
            {"condition": text, "feature": inputs.features[i], "weight": _num(weight)}
            for (text, weight), i in zip(conditions, indices, strict=True)
        ]
        weights.sort(key=lambda w: (-abs(w["weight"] or 0.0), inputs.features.index(w["feature"])))
        explained.append(
            {
                "row": row,
                "reasons": reasons[row],
                "groups": {
                    name: PRIVILEGED if member[row] else UNPRIVILEGED
                    for name, member in inputs.membership.items()
                },
                "predicted_probability": _num(chosen_proba[done]),
                "local_prediction": _num(np.ravel(exp.local_pred)[0]),
                "intercept": _num(exp.intercept[pos]),
                "score": _num(exp.score),
                "features": weights,
            }
        )
        _report(progress, (done + 1) / len(chosen), "explaining")
    _report(progress, 1.0, "done")
    return {
        "method": "lime",
        "explainer": "LimeTabularExplainer",
        "model": _describe_model(model),
        "output": "probability",
        "output_description": (
            f"LIME fits a local linear model to the probability of the positive class "
            f"{inputs.positive_class!r}; weights are in probability units."
        ),
        "positive_class": inputs.positive_class,
        "settings": {
            "num_features": num_features,
            "num_samples": num_samples,
            "seed": seed,
            "discretize_continuous": True,
            "discretizer": "quartile",
        },
        "selection": selection,
        "rows": explained,
    }
