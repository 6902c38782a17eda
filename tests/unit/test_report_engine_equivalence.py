"""The performance and KPI paths that share the fairness engine's strata and one sort by score
give exactly the numbers of the implementations they replaced (a per-group lexsort for ROC AUC,
the KPI report computing a performance report and a fairness report separately)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from explain.engines import fairness, performance
from explain.engines.fairness.inputs import divide
from explain.engines.fairness.mitigation import THRESHOLD_GRID, _grid_bins
from explain.engines.fairness.report import prepare
from explain.engines.kpis import computed_kpis


def lexsort_roc_auc(
    codes: np.ndarray, n_groups: int, positive: np.ndarray, score: np.ndarray, *_: Any
) -> np.ndarray:
    """The previous ROC AUC: one lexsort by (group, score) per attribute."""
    order = np.lexsort((score, codes))
    c, s, y = codes[order], score[order], positive[order]
    n = len(c)
    new_block = np.r_[True, (c[1:] != c[:-1]) | (s[1:] != s[:-1])]
    block = np.cumsum(new_block) - 1
    starts = np.flatnonzero(new_block)
    ends = np.r_[starts[1:], n] - 1
    sizes = np.bincount(c, minlength=n_groups)
    group_start = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = (starts + ends)[block] / 2 - group_start[c] + 1
    rank_sum = np.bincount(c, weights=rank * y, minlength=n_groups)
    pos = np.bincount(c, weights=y.astype(np.float64), minlength=n_groups)
    neg = sizes - pos
    return divide(rank_sum - pos * (pos + 1) / 2, pos * neg)


def frame(seed: int, n: int = 4000, decimals: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object)
    race[rng.random(n) < 0.03] = None  # a missing value is a group of its own
    y = (rng.random(n) < 0.4).astype(int)
    score = np.clip(0.6 * rng.random(n) + 0.3 * y, 0, 1)
    if decimals is not None:
        score = score.round(decimals)  # many ties, some exactly on the threshold grid
    df = pd.DataFrame({"race": race, "sex": rng.integers(0, 2, n), "y": y, "s": score})
    df["p"] = (df["s"] >= 0.5).astype(int)
    df.loc[df["race"] == "d", "y"] = 1  # a single-class group: ROC AUC undefined
    df.loc[df["race"] == "c", "p"] = 0  # no favorable predictions: precision 0/0
    return df


CASES = [
    (0, None, "s"),
    (1, 1, "s"),
    (2, 2, "s"),
    (3, 3, "s"),
    (4, None, None),  # no scores
    (5, 0, "s"),  # scores 0 and 1 only
]
PROTECTED = {"race": {"privileged": ["a"]}, "sex": {"privileged": [1]}}


def old_kpis(df: pd.DataFrame, protected: dict[str, Any], score: str | None) -> dict[str, float]:
    columns = {"label": "y", "prediction": "p", "favorable_label": 1, "score": score}
    perf = performance.performance_report(df, **columns, protected=protected)
    fair = fairness.fairness_report(df, **columns, protected=protected, bootstrap_samples=0)
    return {**performance.kpi_values(perf), **fairness.kpi_values(fair)}


@pytest.mark.parametrize(("seed", "decimals", "score"), CASES)
def test_performance_report_is_unchanged(
    seed: int, decimals: int | None, score: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = frame(seed, decimals=decimals)
    kwargs = {"label": "y", "prediction": "p", "favorable_label": 1, "score": score}
    new = performance.performance_report(df, **kwargs, protected=["race", "sex"])
    monkeypatch.setattr(performance, "roc_auc_by_group", lexsort_roc_auc)
    old = performance.performance_report(df, **kwargs, protected=["race", "sex"])
    assert new == old
    groups = {g["value"]: g for g in new["attributes"]["race"]["groups"]}
    assert groups[None]["count"] > 0
    if score is not None:
        assert groups["d"]["roc_auc"] is None and groups["a"]["roc_auc"] is not None
    assert groups["c"]["precision"] is None


@pytest.mark.parametrize(("seed", "decimals", "score"), CASES)
def test_performance_from_strata_equals_the_report(
    seed: int, decimals: int | None, score: str | None
) -> None:
    df = frame(seed, decimals=decimals)
    kwargs = {"label": "y", "prediction": "p", "favorable_label": 1, "score": score}
    # A privileged value that does not occur is an empty group in the fairness strata only.
    protected = {**PROTECTED, "sex": {"privileged": [1, 7]}}
    prepared = prepare(df, **kwargs, protected=protected)
    from_strata = performance.performance_report_from(prepared, favorable_label=1)
    assert from_strata == performance.performance_report(df, **kwargs, protected=protected)


@pytest.mark.parametrize(("seed", "decimals", "score"), CASES)
def test_kpis_from_one_pass_equal_the_two_reports(
    seed: int, decimals: int | None, score: str | None
) -> None:
    df = frame(seed, decimals=decimals)
    new = computed_kpis(
        df, label="y", prediction="p", favorable_label=1, protected=PROTECTED, score=score
    )
    old = old_kpis(df, PROTECTED, score)
    assert list(new) == list(old)
    assert new == old
    assert "roc_auc[race=a]" in new if score else "roc_auc" not in new
    assert "fairness.race.disparate_impact" in new


def test_kpis_with_string_labels_and_favorable_zero() -> None:
    df = frame(6, decimals=2)
    text = df.assign(y=np.where(df["y"] == 1, "yes", "no"), p=np.where(df["p"] == 1, "yes", "no"))
    columns = {"label": "y", "prediction": "p", "favorable_label": "no", "score": None}
    perf = performance.performance_report(text, **columns, protected=PROTECTED)
    fair = fairness.fairness_report(text, **columns, protected=PROTECTED, bootstrap_samples=0)
    old = {**performance.kpi_values(perf), **fairness.kpi_values(fair)}
    assert computed_kpis(text, **columns, protected=PROTECTED) == old


def test_kpis_refuse_what_the_two_reports_refused() -> None:
    df = frame(7, n=200)
    with pytest.raises(ValueError, match=r"protected attribute columns not found: \['age'\]"):
        computed_kpis(
            df, label="y", prediction="p", favorable_label=1, protected={"age": {"privileged": 1}}
        )
    with pytest.raises(ValueError, match="at least one protected attribute"):
        computed_kpis(df, label="y", prediction="p", favorable_label=1, protected={})
    with pytest.raises(ValueError, match="columns not found"):
        computed_kpis(df, label="nope", prediction="p", favorable_label=1, protected=PROTECTED)


def test_ranks_of_a_large_tied_frame_match_the_lexsort() -> None:
    rng = np.random.default_rng(8)
    n = 200_000
    codes = rng.integers(0, 5, n)
    y = rng.random(n) < 0.3
    score = rng.integers(0, 50, n) / 49
    expected = lexsort_roc_auc(codes, 5, y, score)
    np.testing.assert_array_equal(performance.roc_auc_by_group(codes, 5, y, score), expected)


def test_grid_bins_equal_searchsorted() -> None:
    rng = np.random.default_rng(9)
    grid = THRESHOLD_GRID
    scores = np.concatenate(
        [
            rng.random(100_000),
            grid,
            np.nextafter(grid, 2.0).clip(0, 1),
            np.nextafter(grid, -1.0).clip(0, 1),
            np.arange(100_001) / 100_000,
            np.arange(1001) * 0.001,
        ]
    )
    expected = np.searchsorted(grid, scores, side="right") - 1
    np.testing.assert_array_equal(_grid_bins(scores), expected)
