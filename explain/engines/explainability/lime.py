"""Local LIME explanations: the most borderline rows plus a seeded few per protected group,
or exactly the rows asked for."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .inputs import (
    PRIVILEGED,
    UNPRIVILEGED,
    Progress,
    ProtectedInput,
    _describe_model,
    _Inputs,
    _num,
    _predict_positive,
    _prepare,
    _proba_function,
    _report,
)


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
