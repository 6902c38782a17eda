"""Drift engine: each statistic against scipy (and Evidently's construction) on fixed data, the
choice of test, counts-only windows, the reference profile built at once and from chunks, and
the false-alarm rate and power of the default tests."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from explain.engines import drift

TOL = 1e-12


def small_frame(seed: int = 0, n: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10, 2, n),
            "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "b": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )


def evidently_chi_square(ref: pd.Series, cur: pd.Series) -> tuple[float, float]:
    """Evidently's chisquare_stattest: expected = reference counts scaled to the current size."""
    keys = sorted(set(ref.dropna()) | set(cur.dropna()))
    r, c = ref.value_counts(), cur.value_counts()
    f_exp = [r.get(k, 0) * len(cur) / len(ref) for k in keys]
    f_obs = [c.get(k, 0) for k in keys]
    res = stats.chisquare(f_obs, f_exp)
    return float(res.statistic), float(res.pvalue)


def shares(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(ref) | set(cur))
    r, c = ref.value_counts(normalize=True), cur.value_counts(normalize=True)
    return np.array([r.get(k, 0.0) for k in keys]), np.array([c.get(k, 0.0) for k in keys])


# --- each statistic equals its reference computation ---------------------------------------


def test_ks_equals_scipy_for_a_small_reference() -> None:
    ref, cur = small_frame(0), small_frame(1, 300)
    cur["x"] += 1.0
    profile = drift.reference_profile(ref, ["x"])
    result = drift.column_drift(profile["columns"]["x"], values=cur["x"])
    expected = stats.ks_2samp(ref["x"], cur["x"])
    assert result.test == "ks" and not result.approximate
    assert result.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert result.p_value == pytest.approx(expected.pvalue, abs=TOL)
    assert result.drifted and expected.pvalue < 0.05


def test_chi_square_equals_evidentlys_scipy_chisquare_from_values_and_from_counts() -> None:
    ref, cur = small_frame(0), small_frame(2, 300)
    cur.loc[:60, "c"] = "d"
    column = drift.reference_profile(ref, ["c"])["columns"]["c"]
    statistic, p_value = evidently_chi_square(ref["c"], cur["c"])
    from_values = drift.column_drift(column, values=cur["c"])
    from_counts = drift.column_drift(column, counts=drift.column_counts(column, cur["c"]))
    assert from_values.test == "chisquare"
    assert from_values.statistic == pytest.approx(statistic, abs=TOL)
    assert from_values.p_value == pytest.approx(p_value, abs=TOL)
    assert from_values.drifted and p_value < 0.05
    assert from_counts == from_values
    # Evidently's goodness-of-fit test is not the contingency test, which gives another statistic
    table = [[ref["c"].value_counts()[k], cur["c"].value_counts()[k]] for k in "abcd"]
    assert not math.isclose(stats.chi2_contingency(table).statistic, statistic, rel_tol=1e-3)


def test_z_test_equals_a_hand_computation() -> None:
    ref, cur = small_frame(0), small_frame(3, 250)
    column = drift.reference_profile(ref, ["b"])["columns"]["b"]
    result = drift.column_drift(column, values=cur["b"])
    n1, n2 = len(ref), len(cur)
    p1, p2 = (ref["b"] == "yes").mean(), (cur["b"] == "yes").mean()
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 2 * (1 - stats.norm.cdf(abs(z)))
    assert result.test == "z"
    assert abs(result.statistic or 0) == pytest.approx(abs(z), abs=TOL)
    assert result.p_value == pytest.approx(p_value, abs=TOL)
    same = drift.z_test([10, 0], [5, 0])
    assert (same.p_value, same.drifted) == (1.0, False)


def test_jensen_shannon_equals_scipy_from_values_and_from_counts() -> None:
    ref, cur = small_frame(0, 3000), small_frame(4, 1000)
    cur.loc[:300, "c"] = "a"
    column = drift.reference_profile(ref, ["c"])["columns"]["c"]
    p, q = shares(ref["c"], cur["c"])
    expected = jensenshannon(p, q, base=2)
    from_values = drift.column_drift(column, values=cur["c"])
    assert from_values.test == "jensenshannon" and from_values.p_value is None
    assert from_values.statistic == pytest.approx(expected, abs=TOL)
    assert from_values.drifted and expected >= 0.1
    assert drift.column_drift(column, counts=drift.column_counts(column, cur["c"])) == from_values


def test_wasserstein_equals_scipy_over_the_reference_std() -> None:
    ref, cur = small_frame(0, 3000), small_frame(5, 1000)
    cur["x"] += 0.4
    column = drift.reference_profile(ref, ["x"])["columns"]["x"]
    result = drift.column_drift(column, values=cur["x"])
    expected = stats.wasserstein_distance(ref["x"], cur["x"]) / np.std(ref["x"])
    assert result.test == "wasserstein" and not result.approximate
    assert result.statistic == pytest.approx(expected, abs=TOL)
    assert result.drifted and expected >= 0.1
    # a constant reference is normed by 0.001, as Evidently does
    flat = drift.wasserstein_test([1.0] * 10, [1.002] * 10)
    assert flat.statistic == pytest.approx(2.0, abs=1e-9)


def test_psi_equals_the_formula_on_the_reference_bins_from_values_and_from_counts() -> None:
    ref, cur = small_frame(0, 3000), small_frame(6, 1000)
    cur["x"] = cur["x"] * 1.3
    column = drift.reference_profile(ref, ["x"])["columns"]["x"]
    edges = drift.bin_edges(column)
    assert edges[0] == -math.inf and edges[-1] == math.inf
    r = np.array([((ref["x"] > a) & (ref["x"] <= b)).mean() for a, b in itertools.pairwise(edges)])
    c = np.array([((cur["x"] > a) & (cur["x"] <= b)).mean() for a, b in itertools.pairwise(edges)])
    expected = float(np.sum((r - c) * np.log(r / c)))
    from_values = drift.column_drift(column, values=cur["x"], test="psi")
    assert from_values.statistic == pytest.approx(expected, abs=TOL)
    counts = drift.column_counts(column, cur["x"])
    assert drift.column_drift(column, counts=counts, test="psi") == from_values
    # an empty bin takes the share epsilon
    empty = drift.psi_test([50, 50], [100, 0])
    eps = drift.PSI_EPSILON
    assert empty.statistic == pytest.approx(
        (0.5 - 1) * math.log(0.5) + (0.5 - eps) * math.log(0.5 / eps)
    )
    assert empty.drifted


def test_counts_only_windows_for_numeric_columns_are_marked_approximate() -> None:
    ref, cur = small_frame(0), small_frame(7, 400)
    cur["x"] += 0.5
    column = drift.reference_profile(ref, ["x"])["columns"]["x"]
    counts = drift.column_counts(column, cur["x"])
    raw = drift.column_drift(column, values=cur["x"])
    binned = drift.column_drift(column, counts=counts)
    assert binned.test == "ks" and binned.approximate and binned.drifted
    assert (binned.statistic or 0) <= (raw.statistic or 0) + TOL  # a lower bound
    raw_w = drift.column_drift(column, values=cur["x"], test="wasserstein")
    binned_w = drift.column_drift(column, counts=counts, test="wasserstein")
    assert binned_w.approximate and not raw_w.approximate
    assert binned_w.statistic == pytest.approx(raw_w.statistic, abs=0.05)


def test_thresholds_are_overridable() -> None:
    result = drift.jensen_shannon_test([50, 50], [55, 45])
    assert result.threshold == 0.1 and not result.drifted
    lowered = drift.jensen_shannon_test([50, 50], [55, 45], threshold=0.01)
    assert lowered.threshold == 0.01 and lowered.drifted
    assert drift.chi_square_test([50, 50], [55, 45], threshold=0.9).drifted


# --- the choice of test ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "column", "test"),
    [
        (1000, "x", "ks"),
        (1000, "c", "chisquare"),
        (1000, "b", "z"),
        (1000, "few", "chisquare"),
        (1000, "flag", "z"),
        (1001, "x", "wasserstein"),
        (1001, "c", "jensenshannon"),
        (1001, "b", "jensenshannon"),
        (1001, "few", "jensenshannon"),
    ],
)
def test_the_default_test_follows_type_and_reference_size(n: int, column: str, test: str) -> None:
    frame = small_frame(0, n)
    frame["few"] = np.arange(n) % 5  # numeric with 5 distinct values: categorical
    frame["flag"] = np.arange(n) % 2 == 0
    profile = drift.reference_profile(frame, [column])
    assert drift.default_test(profile["columns"][column]) == test


def test_categorical_rule_cap_and_unseen_categories() -> None:
    frame = pd.DataFrame(
        {
            "few": np.arange(600) % 5 * 1.0,
            "six": np.arange(600) % 6,
            "many": [f"k{i % 80:02d}" for i in range(600)],
        }
    )
    columns = drift.reference_profile(frame, ["few", "six", "many"])["columns"]
    assert columns["few"]["kind"] == "categorical" and set(columns["few"]["counts"]) == {
        "0",
        "1",
        "2",
        "3",
        "4",
    }
    assert columns["six"]["kind"] == "numeric"
    many = columns["many"]
    assert len(many["counts"]) == drift.MAX_CATEGORIES
    assert many["other"] + sum(many["counts"].values()) == 600
    # integers in the window are the same categories as the reference's floats
    window = drift.column_counts(columns["few"], pd.Series([0, 1, 1, 7, None]))
    assert window == {"counts": {"0": 1, "1": 2, "2": 0, "3": 0, "4": 0}, "other": 1, "missing": 1}
    # a value the reference never had: the chi-square has an infinite statistic and p = 0
    result = drift.column_drift(columns["few"], counts=window)
    assert (result.statistic, result.p_value, result.drifted) == (None, 0.0, True)
    # a counts-only window naming a category the reference never had: counted as "other"
    named = {"counts": {"0": 1, "1": 2, "7": 1}, "missing": 1}
    assert drift.column_drift(columns["few"], counts=named) == result


def test_unknown_test_or_wrong_type_is_refused() -> None:
    columns = drift.reference_profile(small_frame(0), ["x", "c"])["columns"]
    with pytest.raises(ValueError, match="unknown drift test"):
        drift.column_drift(columns["x"], values=[1.0], test="t")
    with pytest.raises(ValueError, match="numeric"):
        drift.column_drift(columns["c"], values=["a"], test="ks")


# --- the profile -------------------------------------------------------------------------------


def test_profile_is_json_with_the_numbers_the_tests_need() -> None:
    frame = small_frame(0, 12000)
    frame.loc[::7, "x"] = np.nan
    profile = drift.reference_profile(frame, ["x", "c", "b"])
    json.dumps(profile, allow_nan=False)
    x = profile["columns"]["x"]
    present = frame["x"].dropna()
    assert (x["n"], x["missing"]) == (len(present), frame["x"].isna().sum())
    assert x["mean"] == pytest.approx(present.mean(), abs=1e-9)
    assert x["std"] == pytest.approx(np.std(present), abs=1e-9)
    assert (x["min"], x["max"]) == (present.min(), present.max())
    assert len(x["cuts"]) == 9 and sum(x["counts"]) == len(present)
    assert len(x["sample"]) == drift.SAMPLE_SIZE and set(x["sample"]) <= set(present)
    assert max(x["counts"]) / len(present) < 0.12  # deciles of the sample: about 10% each
    assert drift.reference_profile(frame, ["x"]) == drift.reference_profile(frame, ["x"])


def test_profile_from_record_batches_equals_the_profile_built_at_once() -> None:
    frame = small_frame(0, 9000)
    frame.loc[::11, "x"] = np.nan
    frame.loc[::13, "c"] = None
    frame["few"] = np.arange(len(frame)) % 3
    frame.loc[:999, ["x", "c", "few"]] = np.nan
    columns = ["x", "c", "b", "few"]
    at_once = drift.reference_profile(frame, columns)
    sizes = [1000, 1, 2500, 3000, 2499]
    bounds = np.cumsum([0, *sizes])
    parts = [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(bounds)]
    batches = [pa.RecordBatch.from_pandas(p, preserve_index=False) for p in parts]
    # a chunk with nothing but nulls, as arrow types it when it cannot tell the type
    first = batches[0]
    nulls = pa.nulls(len(first))
    batches[0] = pa.RecordBatch.from_arrays(
        [first.column("x"), nulls, first.column("b"), nulls], names=["x", "c", "b", "few"]
    )
    chunked = drift.reference_profile_from_batches(lambda: iter(batches), columns)
    for name in columns:
        a, b = at_once["columns"][name], chunked["columns"][name]
        assert a.keys() == b.keys()
        for key in a:
            if key in ("mean", "std"):
                assert b[key] == pytest.approx(a[key], abs=1e-9)
            else:
                assert b[key] == a[key], (name, key)


def test_window_counts_merge_and_dataset_drift() -> None:
    ref = small_frame(0, 3000)
    profile = drift.reference_profile(ref, ["x", "c", "b"])
    cur = small_frame(8, 1000)
    cur["x"] += 1.0
    cur["c"] = "a"
    whole = drift.window_counts(profile, cur)
    halves = drift.merge_window_counts(
        drift.window_counts(profile, cur.iloc[:400]), drift.window_counts(profile, cur.iloc[400:])
    )
    assert halves == whole
    report = drift.drift_report(profile, frame=cur)
    json.dumps(report, allow_nan=False)
    assert report["dataset"] == {
        "columns": 3,
        "drifted_columns": ["c", "x"],
        "share": pytest.approx(2 / 3),
        "threshold": 0.5,
        "drifted": True,
    }
    stricter = drift.drift_report(profile, counts=whole, share=0.7)
    assert stricter["dataset"]["drifted"] is False
    chosen = drift.drift_report(profile, counts=whole, tests={"b": "psi"}, thresholds={"b": 0.0})
    assert chosen["columns"]["b"]["test"] == "psi" and chosen["columns"]["b"]["drifted"]
    results = {"x": drift.psi_test([1, 1], [1, 1]), "c": drift.psi_test([1, 1], [3, 1])}
    assert drift.dataset_drift(results)["drifted"] is True  # 1 of 2 is the default share 0.5


# --- false alarms and power ------------------------------------------------------------------

WINDOWS = 1000
ALPHA = 0.05
# the nominal rate plus three binomial standard errors over 1,000 windows: 0.0707
FALSE_ALARM_LIMIT = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / WINDOWS)
CATEGORIES = ["a", "b", "c", "d"]
SHARES = [0.2, 0.4, 0.3, 0.1]
SHIFTED = [0.35, 0.325, 0.2375, 0.0875]  # "a" from 20% to 35%, the rest scaled down


def flag_rate(column: dict, windows: list[pd.Series], *, counts: bool = False) -> float:
    flagged = 0
    for window in windows:
        source = {"counts": drift.column_counts(column, window)} if counts else {"values": window}
        flagged += drift.column_drift(column, **source).drifted
    return flagged / len(windows)


def test_windows_from_the_reference_distribution_rarely_flag_drift() -> None:
    rng = np.random.default_rng(2026)
    ref = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(CATEGORIES, 1000, p=SHARES)})
    profile = drift.reference_profile(ref, ["x", "c"])
    numeric = [pd.Series(rng.normal(size=200)) for _ in range(WINDOWS)]
    categorical = [pd.Series(rng.choice(CATEGORIES, 200, p=SHARES)) for _ in range(WINDOWS)]
    assert drift.default_test(profile["columns"]["x"]) == "ks"
    assert drift.default_test(profile["columns"]["c"]) == "chisquare"
    assert flag_rate(profile["columns"]["x"], numeric) <= FALSE_ALARM_LIMIT
    assert flag_rate(profile["columns"]["x"], numeric, counts=True) <= FALSE_ALARM_LIMIT
    assert flag_rate(profile["columns"]["c"], categorical, counts=True) <= FALSE_ALARM_LIMIT
    # the distances of a large reference: no nominal rate, and no alarms at 1,000 rows
    big = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(CATEGORIES, 5000, p=SHARES)})
    large = drift.reference_profile(big, ["x", "c"])
    numeric = [pd.Series(rng.normal(size=1000)) for _ in range(200)]
    categorical = [pd.Series(rng.choice(CATEGORIES, 1000, p=SHARES)) for _ in range(200)]
    assert flag_rate(large["columns"]["x"], numeric) == 0
    assert flag_rate(large["columns"]["c"], categorical, counts=True) == 0


def test_a_planted_shift_is_flagged_in_at_least_95_percent_of_windows() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(CATEGORIES, 1000, p=SHARES)})
    profile = drift.reference_profile(ref, ["x", "c"])
    # windows of 200 rows: mean + 0.5 std (KS), category "a" 20% -> 35% (chi-square)
    numeric = [pd.Series(rng.normal(0.5, 1, 200)) for _ in range(WINDOWS)]
    categorical = [pd.Series(rng.choice(CATEGORIES, 200, p=SHIFTED)) for _ in range(WINDOWS)]
    assert flag_rate(profile["columns"]["x"], numeric) >= 0.95
    assert flag_rate(profile["columns"]["x"], numeric, counts=True) >= 0.95  # binned KS
    assert flag_rate(profile["columns"]["c"], categorical) >= 0.95
    # a large reference, windows of 1,000 rows: Wasserstein / std and Jensen-Shannon
    big = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(CATEGORIES, 5000, p=SHARES)})
    large = drift.reference_profile(big, ["x", "c"])
    numeric = [pd.Series(rng.normal(0.5, 1, 1000)) for _ in range(200)]
    categorical = [pd.Series(rng.choice(CATEGORIES, 1000, p=SHIFTED)) for _ in range(200)]
    assert flag_rate(large["columns"]["x"], numeric) >= 0.95
    assert flag_rate(large["columns"]["c"], categorical) >= 0.95
