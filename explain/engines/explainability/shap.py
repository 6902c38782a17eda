"""Global SHAP importance, overall and per protected group, with proxy warnings.

TreeExplainer and LinearExplainer are exact and fast. The PermutationExplainer fallback calls
the model about ten times per explained row, and the first use in a process also compiles
SHAP's numba kernels (seconds); the worker runs it under Celery time limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .effects import METHOD_DESCRIPTION, _proxy_effects
from .inputs import (
    PRIVILEGED,
    UNPRIVILEGED,
    Progress,
    ProtectedInput,
    _describe_model,
    _Inputs,
    _num,
    _prepare,
    _proba_function,
    _report,
)
from .proxies import PROXY_BINS, _associations, _proxy_warnings
from .sampling import _proxy_rows, _stratified_sample

SCALE_NAMES = {"log_odds": "log-odds", "probability": "probability"}


@dataclass(frozen=True)
class ShapOutput:
    """A SHAP report (``result``, JSON-ready) and the raw matrix behind it, for plots."""

    result: dict[str, Any]
    values: np.ndarray
    X_sample: pd.DataFrame
    base_value: float


@dataclass(frozen=True)
class _Plan:
    """Which SHAP explainer to run, on what, and on which output scale."""

    kind: str  # "tree" | "linear" | "permutation"
    estimator: Any
    transform: Callable[[pd.DataFrame], Any] | None
    reason: str


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
    X_rows: pd.DataFrame,
    *,
    background_rows: int,
    seed: int,
    progress: Progress | None,
) -> tuple[np.ndarray, float, str, dict[str, Any]]:
    """SHAP values of the positive class for ``rows`` (``X_rows``), its base value, scale and
    settings."""
    import shap

    X = inputs.X
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


def _columns(protected: ProtectedInput) -> Mapping[str, Any]:
    """The protected attributes as a mapping of name to values."""
    return dict(protected.items()) if isinstance(protected, pd.DataFrame) else protected


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
    """Global SHAP importance, overall and per protected group, with proxy warnings and the
    estimated effect of neutralising each flagged proxy on the fairness metrics."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1.")
    inputs = _prepare(model, X, protected, privileged, positive_class)
    _report(progress, 0.0, "sampling")
    plan = _plan(model, inputs)
    rows, sample = _stratified_sample(inputs, max_rows, seed)
    _report(progress, 0.2, "explaining")
    whole = len(rows) == len(inputs.X)
    X_rows = inputs.X if whole else inputs.X.iloc[rows]
    values, base, scale, settings = _shap_values(
        plan, inputs, rows, X_rows, background_rows=background_rows, seed=seed, progress=progress
    )
    _report(progress, 0.8, "summarising")
    abs_values = np.abs(values)
    importance = abs_values.mean(axis=0)
    ranking = _ranked(inputs.features, importance)
    order = [entry["feature"] for entry in ranking]
    proxy_rows = _proxy_rows(inputs, rows, seed)
    on_all = len(proxy_rows) == len(inputs.X)
    associations = _associations(
        inputs.X if on_all else X_rows if proxy_rows is rows else inputs.X.iloc[proxy_rows],
        {name: m if on_all else m[proxy_rows] for name, m in inputs.membership.items()},
    )
    warnings = _proxy_warnings(
        associations,
        ranking,
        threshold=proxy_threshold,
        top_k=proxy_top_k,
        min_share=proxy_min_share,
    )
    _report(progress, 0.85, "estimating proxy effects")
    effects = _proxy_effects(
        model, inputs, _columns(protected), privileged, proxy_rows, warnings, seed=seed
    )
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
            "rows": len(proxy_rows),
            "rows_description": (
                f"computed on {len(proxy_rows)} of {len(inputs.X)} rows"
                + ("" if on_all else " (the explained rows, or a sample stratified like them)")
            ),
            "measures": {
                "nmi": (
                    f"mutual information between the feature ({PROXY_BINS} quantile bins) and "
                    "privileged/unprivileged membership, divided by the entropy of membership"
                ),
                "abs_correlation": "|Pearson correlation| with membership (point-biserial)",
            },
            "warnings": warnings,
            "associations": associations,
            "effects": effects,
            "effects_method": METHOD_DESCRIPTION,
        },
    }
    _report(progress, 1.0, "done")
    X_sample = X_rows.set_axis(rows, axis=0)
    return ShapOutput(result=result, values=values, X_sample=X_sample, base_value=base)
