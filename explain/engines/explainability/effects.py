"""What neutralising a flagged proxy feature is estimated to do to the fairness metrics, without
retraining: the model re-predicts the proxy rows with that feature's link to the protected
attribute broken, and the fairness engine measures both sets of decisions on the same rows.

The feature is neutralised by a seeded permutation of its column across the rows: each row
takes the value of another row, drawn from the whole column, so the values the model sees keep
their distribution (no value it never saw in training, as a median or a mean could be for a
tree) but no longer depend on the protected attribute. The median would instead give every row
the same value, which moves every decision near a split at once and so says as much about
that one value as about the proxy. A permutation also breaks the feature's ties to the other
features, and the model keeps its weights: the number estimates this model without the proxy's
information, not a model retrained without it, which may lean on other features instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .inputs import _Inputs, _num

# Features neutralised at most (one predict of the proxy rows each), the highest ranked first.
MAX_EFFECT_FEATURES = 3
# The metrics estimated: those of decisions alone, which need no labels.
EFFECT_METRICS = ("disparate_impact", "statistical_parity_difference")
METHOD = "permutation"
METHOD_DESCRIPTION = (
    "the feature's column permuted across the rows (seeded), the model re-predicting them "
    "unchanged; an estimate without retraining"
)
# The decision column of the frame handed to the fairness engine; any name the protected
# columns do not use.
_DECISION = "__gatehouse_decision__"


def _decisions(model: Any, X: pd.DataFrame, inputs: _Inputs) -> np.ndarray:
    """True where the model decides the positive (favourable) class."""
    positive = np.asarray(model.classes_)[inputs.positive_index]
    return np.asarray(model.predict(X)) == positive


def _attribute_sections(
    groups: pd.DataFrame, decisions: np.ndarray, privileged: Mapping[str, Any]
) -> dict[str, Any]:
    """The fairness report's attribute sections of ``decisions``, grouped as the fairness
    report groups (the same engine, without bootstrap or hints); the labels are the decisions
    themselves, as only metrics of decisions are read."""
    from ..fairness.policy import FairnessPolicy
    from ..fairness.report import fairness_report_from, prepare

    frame = groups.assign(**{_DECISION: decisions})
    prepared = prepare(
        frame,
        label=_DECISION,
        prediction=_DECISION,
        favorable_label=True,
        protected={name: {"privileged": privileged[name]} for name in groups.columns},
    )
    report = fairness_report_from(
        prepared,
        favorable_label=True,
        policy=FairnessPolicy(),
        bootstrap_samples=0,
        seed=0,
        progress=lambda percent, message: None,
        mitigation=False,
    )
    return dict(report["attributes"])


def _proxy_effects(
    model: Any,
    inputs: _Inputs,
    protected: Mapping[str, Sequence[Any] | np.ndarray | pd.Series],
    privileged: Mapping[str, Any],
    rows: np.ndarray,
    warnings: list[dict[str, Any]],
    *,
    seed: int,
) -> list[dict[str, Any]]:
    """For each flagged proxy (up to ``MAX_EFFECT_FEATURES`` features, best ranked first) and
    the attribute it carries: disparate impact and statistical parity difference of the
    model's decisions on ``rows`` as they are (``observed``) and with the feature neutralised
    (``estimated``), for all unprivileged vs privileged. One predict of ``rows``, then one per
    feature."""
    features: list[str] = []
    for warning in sorted(warnings, key=lambda w: w["rank"]):
        if warning["feature"] not in features:
            features.append(warning["feature"])
    features = features[:MAX_EFFECT_FEATURES]
    if not features:
        return []
    X_rows = inputs.X.iloc[rows]
    groups = pd.DataFrame(
        {
            name: (
                values.reset_index(drop=True)
                if isinstance(values, pd.Series)
                else pd.Series(values)
            ).iloc[rows]
            for name, values in protected.items()
            if name in inputs.membership
        }
    ).reset_index(drop=True)
    observed = _attribute_sections(groups, _decisions(model, X_rows, inputs), privileged)
    shuffle = np.random.default_rng(seed).permutation(len(rows))
    effects = []
    for feature in features:
        column = inputs.features.index(feature)
        neutral = X_rows.copy()
        neutral.iloc[:, column] = X_rows.iloc[shuffle, column].to_numpy()
        estimated = _attribute_sections(groups, _decisions(model, neutral, inputs), privileged)
        for warning in warnings:
            attribute = warning["attribute"]
            if warning["feature"] != feature or attribute not in observed:
                continue
            before = observed[attribute]["comparisons"][0]  # all unprivileged vs privileged
            after = estimated[attribute]["comparisons"][0]
            for metric in EFFECT_METRICS:
                effects.append(
                    {
                        "feature": feature,
                        "protected": attribute,
                        "metric": metric,
                        "unprivileged": before["unprivileged"],
                        "privileged": observed[attribute]["privileged"],
                        "observed": _num_or_none(before["metrics"][metric]["value"]),
                        "estimated": _num_or_none(after["metrics"][metric]["value"]),
                        "method": METHOD,
                        "seed": seed,
                        "rows": len(rows),
                    }
                )
    return effects


def _num_or_none(value: float | None) -> float | None:
    return None if value is None else _num(value)
