"""Performance engine: metrics against scikit-learn, per group, with and without scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from explain.engines.performance import kpi_values, performance_report

TOL = 1e-9


def make_data(seed: int, n: int = 3000, decimals: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d"], n)
    y = (rng.random(n) < 0.4).astype(int)
    score = np.clip(0.6 * rng.random(n) + 0.3 * y, 0, 1)
    if decimals is not None:
        score = score.round(decimals)  # many ties
    return pd.DataFrame({"race": race, "sex": rng.integers(0, 2, n), "y": y, "s": score})


def expected(frame: pd.DataFrame) -> dict[str, float]:
    y, p = frame["y"], (frame["s"] >= 0.5).astype(int)
    return {
        "count": len(frame),
        "accuracy": accuracy_score(y, p),
        "precision": precision_score(y, p),
        "recall": recall_score(y, p),
        "f1": f1_score(y, p),
        "roc_auc": roc_auc_score(y, frame["s"]),
    }


@pytest.mark.parametrize(("seed", "decimals"), [(0, None), (1, 1), (2, 2)])
def test_matches_sklearn_overall_and_per_group(seed: int, decimals: int | None) -> None:
    df = make_data(seed, decimals=decimals)
    df["p"] = (df["s"] >= 0.5).astype(int)
    result = performance_report(
        df, label="y", prediction="p", favorable_label=1, protected=["race", "sex"], score="s"
    )
    json.dumps(result, allow_nan=False)
    assert result["overall"] == pytest.approx(expected(df), abs=TOL)
    for column in ("race", "sex"):
        for group in result["attributes"][column]["groups"]:
            subset = df[df[column] == group.pop("value")]
            assert group == pytest.approx(expected(subset), abs=TOL)


def test_favorable_label_zero_and_string_labels() -> None:
    df = make_data(3)
    df["p"] = (df["s"] >= 0.5).astype(int)
    text = df.assign(y=np.where(df["y"] == 1, "yes", "no"), p=np.where(df["p"] == 1, "yes", "no"))
    result = performance_report(text, label="y", prediction="p", favorable_label="no")
    y, p = 1 - df["y"], 1 - df["p"]
    assert result["overall"]["recall"] == pytest.approx(recall_score(y, p), abs=TOL)
    assert result["overall"]["roc_auc"] is None


def test_single_class_group_and_undefined_precision() -> None:
    df = make_data(4, n=500)
    df["p"] = (df["s"] >= 0.5).astype(int)
    df.loc[df["race"] == "a", "y"] = 1
    df.loc[df["race"] == "b", "p"] = 0
    result = performance_report(
        df, label="y", prediction="p", favorable_label=1, protected={"race": {}}, score="s"
    )
    json.dumps(result, allow_nan=False)
    groups = {g["value"]: g for g in result["attributes"]["race"]["groups"]}
    assert groups["a"]["roc_auc"] is None
    assert groups["a"]["recall"] is not None
    assert groups["b"]["precision"] is None  # no favorable predictions: 0/0
    assert groups["c"]["roc_auc"] is not None


def test_without_scores_no_auc() -> None:
    df = make_data(5, n=400)
    df["p"] = (df["s"] >= 0.5).astype(int)
    result = performance_report(df, label="y", prediction="p", favorable_label=1, protected=["sex"])
    assert result["scores_supplied"] is False
    assert result["overall"]["roc_auc"] is None
    assert all(g["roc_auc"] is None for g in result["attributes"]["sex"]["groups"])
    kpis = kpi_values(result)
    assert "roc_auc" not in kpis
    assert set(kpis) >= {"accuracy", "precision", "recall", "f1", "accuracy[sex=0]"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in kpis.values())


def test_missing_protected_column() -> None:
    df = make_data(6, n=50).assign(p=1)
    with pytest.raises(ValueError, match="not found"):
        performance_report(df, label="y", prediction="p", favorable_label=1, protected=["age"])
