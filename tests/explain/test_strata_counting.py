"""The joint strata counted by one bincount (small key spaces) are the strata np.unique
found, in the same order, so every fairness number and bootstrap draw is unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explain.engines.fairness import fairness_report, strata


def _frame(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d", "e"], n).astype(object)
    race[rng.random(n) < 0.02] = None
    y = rng.integers(0, 2, n)
    score = rng.random(n).round(2)
    return pd.DataFrame(
        {
            "race": race,
            "sex": rng.integers(0, 2, n),
            "age": rng.integers(0, 7, n),
            "y": y,
            "p": (score > 0.4).astype(int),
            "s": score,
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_and_sorted_counting_give_the_same_strata(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, k, 5000) for k in (3, 5, 2)]
    codes[1][codes[1] == 4] = 0  # a code that never occurs
    cell = rng.integers(0, 4, 5000)
    dense = strata._joint_strata(codes, cell)
    saved = strata._DENSE_STRATA_KEYS
    try:
        strata._DENSE_STRATA_KEYS = 0
        sorted_ = strata._joint_strata(codes, cell)
    finally:
        strata._DENSE_STRATA_KEYS = saved
    np.testing.assert_array_equal(dense[0], sorted_[0])
    for a, b in zip(dense[1], sorted_[1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dense[2], sorted_[2])


@pytest.mark.parametrize("seed", [3, 4])
def test_fairness_report_is_the_same_either_way(seed: int, monkeypatch) -> None:
    df = _frame(seed)
    kwargs = {
        "label": "y",
        "prediction": "p",
        "favorable_label": 1,
        "score": "s",
        "protected": {
            "race": {"privileged": ["a"]},
            "sex": {"privileged": [1]},
            "age": {"privileged": [0, 1, 9]},
        },
        "bootstrap_samples": 200,
        "seed": 5,
    }
    dense = fairness_report(df, **kwargs)
    monkeypatch.setattr(strata, "_DENSE_STRATA_KEYS", 0)
    assert fairness_report(df, **kwargs) == dense
