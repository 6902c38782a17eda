"""ROC AUC per group: counted group by group in score order (a few groups) or by sorting rows
by group (many), both exactly the previous per-group lexsort's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from explain.engines import performance
from tests.unit.test_report_engine_equivalence import lexsort_roc_auc


def _case(seed: int, n_groups: int, decimals: int | None, n: int = 5000):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_groups, n)
    positive = rng.random(n) < 0.3 + 0.4 * (codes % 2)
    score = np.clip(0.6 * rng.random(n) + 0.3 * positive, 0, 1)
    if decimals is not None:
        score = score.round(decimals)  # tie blocks spanning groups and classes
    positive[codes == 1] = True  # a single-class group: NaN
    return codes, positive, score


@pytest.mark.parametrize("decimals", [None, 0, 1, 2, 3])
@pytest.mark.parametrize("n_groups", [1, 2, 5, 16, 40])
def test_both_ways_equal_the_lexsort(n_groups: int, decimals: int | None) -> None:
    codes, positive, score = _case(n_groups * 10 + (decimals or 9), n_groups, decimals)
    expected = lexsort_roc_auc(codes, n_groups, positive, score)
    by_score = performance.score_order(positive, score)
    passes = performance._roc_auc_by_group_passes(codes, n_groups, by_score)
    sorting = performance._roc_auc_by_sorting(codes, n_groups, by_score)
    np.testing.assert_array_equal(passes, expected)
    np.testing.assert_array_equal(sorting, expected)
    np.testing.assert_array_equal(
        performance.roc_auc_by_group(codes, n_groups, positive, score), expected
    )
    if n_groups > 1:
        assert np.isnan(expected[1])


def test_an_empty_group_has_no_roc_auc() -> None:
    codes, positive, score = _case(3, 3, 2)
    codes[codes == 2] = 0
    by_score = performance.score_order(positive, score)
    auc = performance._roc_auc_by_group_passes(codes, 3, by_score)
    assert np.isnan(auc[2]) and np.isfinite(auc[0])
