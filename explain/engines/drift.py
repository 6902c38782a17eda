"""Input drift between a version's evaluation set (the reference) and a production window.

The reference is described once by ``reference_profile``: a JSON-serialisable profile per column,
built in two passes over the data so it can be streamed in chunks (pyarrow record batches or data
frames) with memory flat in the number of rows:

- pass 1 reduces each chunk to a mergeable sketch (count, missing, mean and sum of squared
  deviations merged with Chan's formula, min, max, the category counts, up to 5 distinct numeric
  values, and a bottom-k sample: the 5,000 rows with the smallest seeded hash of their row number,
  so the sample does not depend on how the data is chunked);
- the numeric bin edges are the deciles (``bins``) of that sample, made unique, the outer bins
  open to -inf and +inf (``cuts`` holds the inner edges; bins are right-closed, ``(a, b]``);
- pass 2 counts each chunk on those fixed edges and sums the counts.
Building from chunks therefore gives the same profile as building at once (the test holds it).

Why a 5,000-value sample: it must hold the whole of a small reference (Evidently's small/large
boundary is 1,000 rows), so KS for a small reference is exact; for a large one it gives the bin
edges (exact quantiles up to 5,000 rows) and a Wasserstein distance whose sampling error, about
1/sqrt(5000) = 0.014 of a standard deviation, is small beside the 0.1 threshold. 5,000 floats
keep the stored profile to tens of kilobytes per column.

A column is categorical when its type is not numeric (object, string, bool, category), or when
it is numeric with at most 5 distinct values in the reference (Evidently's ``n_unique <= 5``
rule, applied to the reference alone since the profile is built once). At most 50 categories are
kept, the most frequent (ties by name); the rest of the reference, and any value the reference
never had, fall in the ``other`` bucket.

The default test follows Evidently's ``_get_default_stattest``
(evidentlyai/evidently, src/evidently/calculations/stattests/registry.py; documented at
docs-old.evidentlyai.com/reference/data-drift-algorithm and in release v0.1.50.dev0 "Automatic
Stattest Selection"):

- reference of <= 1,000 rows: numeric -> two-sample Kolmogorov-Smirnov (``ks_2samp``),
  categorical with > 2 categories -> chi-square goodness of fit (``scipy.stats.chisquare`` of the
  current counts against the reference counts scaled to the current total, as Evidently's
  ``chisquare_stattest.py`` does, not ``chi2_contingency``), binary -> the pooled two-proportion
  z-test (``z_stattest.py``); drift when p < 0.05;
- reference of > 1,000 rows: numeric -> Wasserstein distance divided by max(std of the reference,
  0.001) (``wasserstein_distance_norm.py``), categorical -> Jensen-Shannon distance, base 2
  (``jensenshannon.py``); drift when the distance >= 0.1;
- PSI on request (``psi.py``): sum over bins of (r - c) * ln(r / c) on the shares, an empty bin's
  share replaced by epsilon = 0.0001 (Evidently's fill); drift when PSI >= 0.1.
Dataset drift: the share of drifted columns >= 0.5 (Evidently's ``drift_share``).

Every test works from raw current values and from current counts on the reference bins (a
counts-only window). Chi-square, z, Jensen-Shannon and PSI are the same from counts as from raw
values on the same bins. KS and Wasserstein need values: with counts only, KS compares the binned
distribution functions (a lower bound of the statistic, so conservative) with the asymptotic
p-value, and Wasserstein places each bin's mass at its mid-point (the outer bins bounded by the
reference's min and max); both results say ``approximate``. Missing values are left out of every
test and reported as counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5
MAX_CATEGORIES = 50
SAMPLE_SIZE = 5000
SEED = 0
OTHER = "__other__"
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
DRIFT_SHARE = 0.5
PSI_EPSILON = 1e-4
MIN_STD = 0.001

# name -> (default threshold, whether the score is a p-value: drift below it, else at or above)
TESTS: dict[str, tuple[float, bool]] = {
    "ks": (P_VALUE_THRESHOLD, True),
    "chisquare": (P_VALUE_THRESHOLD, True),
    "z": (P_VALUE_THRESHOLD, True),
    "wasserstein": (DISTANCE_THRESHOLD, False),
    "jensenshannon": (DISTANCE_THRESHOLD, False),
    "psi": (DISTANCE_THRESHOLD, False),
}

Batch = Any  # a pandas DataFrame or a pyarrow RecordBatch / Table


@dataclass(frozen=True)
class DriftResult:
    """One column's drift test: p-value tests fill ``p_value``, distances leave it None."""

    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    approximate: bool = False

    @property
    def score(self) -> float | None:
        """The number compared with the threshold."""
        return self.p_value if TESTS[self.test][1] else self.statistic

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(
    test: str, statistic: float | None, p_value: float | None, threshold: float | None, **kw: Any
) -> DriftResult:
    default, is_p = TESTS[test]
    limit = default if threshold is None else float(threshold)
    score = p_value if is_p else statistic
    drifted = score is not None and (score < limit if is_p else score >= limit)
    return DriftResult(
        test=test,
        statistic=None if statistic is None else float(statistic),
        p_value=None if p_value is None else float(p_value),
        threshold=limit,
        drifted=bool(drifted),
        approximate=bool(kw.get("approximate", False)),
    )


# --- the tests, on counts ------------------------------------------------------------------


def _pair(reference: Iterable[float], current: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(list(reference), dtype=float)
    cur = np.asarray(list(current), dtype=float)
    if ref.shape != cur.shape:
        raise ValueError("reference and current counts must be on the same bins")
    return ref, cur


def chi_square_test(
    reference: Iterable[float], current: Iterable[float], *, threshold: float | None = None
) -> DriftResult:
    """Chi-square goodness of fit of the current counts against the reference's, Evidently's way:
    expected = reference count x (current total / reference total), buckets empty in both left
    out. A bucket the reference never had but the current has makes the statistic infinite
    (reported as None) and p = 0."""
    ref, cur = _pair(reference, current)
    keep = (ref > 0) | (cur > 0)
    ref, cur = ref[keep], cur[keep]
    if ref.sum() == 0 or cur.sum() == 0:
        return _result("chisquare", None, None, threshold)
    if np.any((ref == 0) & (cur > 0)):
        return _result("chisquare", None, 0.0, threshold)
    expected = ref * (cur.sum() / ref.sum())
    statistic, p_value = stats.chisquare(cur, expected)
    return _result("chisquare", statistic, p_value, threshold)


def z_test(
    reference: Iterable[float], current: Iterable[float], *, threshold: float | None = None
) -> DriftResult:
    """Two-proportion z-test (pooled variance, two-sided) on the share of the first bucket
    against all the others, as Evidently's ``z_stattest``; p = 1 when both hold one same value."""
    ref, cur = _pair(reference, current)
    n1, n2 = ref.sum(), cur.sum()
    if n1 == 0 or n2 == 0:
        return _result("z", None, None, threshold)
    p1, p2 = ref[0] / n1, cur[0] / n2
    pooled = (ref[0] + cur[0]) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return _result("z", 0.0, 1.0, threshold)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return _result("z", z, 2 * stats.norm.sf(abs(z)), threshold)


def jensen_shannon_test(
    reference: Iterable[float], current: Iterable[float], *, threshold: float | None = None
) -> DriftResult:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between the two distributions."""
    ref, cur = _pair(reference, current)
    if ref.sum() == 0 or cur.sum() == 0:
        return _result("jensenshannon", None, None, threshold)
    value = distance.jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2)
    return _result("jensenshannon", value, None, threshold)


def psi_test(
    reference: Iterable[float],
    current: Iterable[float],
    *,
    threshold: float | None = None,
    epsilon: float = PSI_EPSILON,
) -> DriftResult:
    """Population stability index: sum of (r - c) * ln(r / c) over the bins' shares, an empty
    bin's share replaced by ``epsilon``."""
    ref, cur = _pair(reference, current)
    if ref.sum() == 0 or cur.sum() == 0:
        return _result("psi", None, None, threshold)
    r = np.where(ref == 0, epsilon, ref / ref.sum())
    c = np.where(cur == 0, epsilon, cur / cur.sum())
    return _result("psi", float(np.sum((r - c) * np.log(r / c))), None, threshold)


def ks_test(
    reference: Iterable[float],
    current: Iterable[float],
    *,
    threshold: float | None = None,
    approximate: bool = False,
) -> DriftResult:
    """Two-sample Kolmogorov-Smirnov on raw values (``scipy.stats.ks_2samp``, its defaults);
    ``approximate`` when ``reference`` is a sample of the reference."""
    ref, cur = _values(reference), _values(current)
    if ref.size == 0 or cur.size == 0:
        return _result("ks", None, None, threshold, approximate=approximate)
    res = stats.ks_2samp(ref, cur)
    return _result("ks", res.statistic, res.pvalue, threshold, approximate=approximate)


def ks_test_binned(
    reference: Iterable[float], current: Iterable[float], *, threshold: float | None = None
) -> DriftResult:
    """KS from counts on the same bins: the largest gap of the binned distribution functions
    (never above the raw statistic) and ``ks_2samp``'s asymptotic p-value; approximate."""
    ref, cur = _pair(reference, current)
    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        return _result("ks", None, None, threshold, approximate=True)
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    en = n * m / (n + m)
    p_value = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return _result("ks", d, p_value, threshold, approximate=True)


def wasserstein_test(
    reference: Iterable[float],
    current: Iterable[float],
    *,
    reference_std: float | None = None,
    threshold: float | None = None,
    approximate: bool = False,
) -> DriftResult:
    """Wasserstein distance over max(reference std, 0.001), Evidently's ``wasserstein`` test;
    ``reference_std`` (population std) defaults to that of ``reference``; ``approximate`` when
    ``reference`` is a sample of the reference."""
    ref, cur = _values(reference), _values(current)
    if ref.size == 0 or cur.size == 0:
        return _result("wasserstein", None, None, threshold, approximate=approximate)
    std = float(np.std(ref)) if reference_std is None else reference_std
    value = stats.wasserstein_distance(ref, cur) / max(std, MIN_STD)
    return _result("wasserstein", value, None, threshold, approximate=approximate)


def wasserstein_test_binned(
    reference: Iterable[float],
    current: Iterable[float],
    *,
    points: Iterable[float],
    reference_std: float,
    threshold: float | None = None,
) -> DriftResult:
    """Wasserstein from counts, each bin's mass at its mid-point ``points``; approximate."""
    ref, cur = _pair(reference, current)
    if ref.sum() == 0 or cur.sum() == 0:
        return _result("wasserstein", None, None, threshold, approximate=True)
    where = np.asarray(list(points), dtype=float)
    value = stats.wasserstein_distance(where, where, ref, cur) / max(reference_std, MIN_STD)
    return _result("wasserstein", value, None, threshold, approximate=True)


def _values(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    return array[~np.isnan(array)]


# --- the reference profile -------------------------------------------------------------------


def _key(value: Any) -> str:
    """The category name of a value: 1, 1.0 and "1" are one category; True is "True"."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _priority(rows: np.ndarray, seed: int) -> np.ndarray:
    """A seeded splitmix64 hash of the row numbers: the bottom-k sample's order."""
    x = rows.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _is_categorical_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)


def _frame(batch: Batch, columns: list[str]) -> pd.DataFrame:
    if isinstance(batch, pd.DataFrame):
        return batch[columns]
    return batch.select(columns).to_pandas()


def _sketch(series: pd.Series, offset: int, seed: int) -> dict[str, Any]:
    """Pass 1 for one chunk of one column: everything ``_merge_sketch`` can add up exactly."""
    if _is_categorical_dtype(series):
        present = series.dropna()
        counts: dict[str, int] = {}
        for value, count in present.value_counts(sort=False).items():
            counts[_key(value)] = counts.get(_key(value), 0) + int(count)
        return {"kind": "categorical", "missing": int(series.isna().sum()), "counts": counts}
    values = series.to_numpy(dtype=float, na_value=np.nan)
    present_mask = ~np.isnan(values)
    x = values[present_mask]
    rows = np.arange(offset, offset + len(values))[present_mask]
    priority = _priority(rows, seed)
    if x.size > SAMPLE_SIZE:
        keep = np.argpartition(priority, SAMPLE_SIZE)[:SAMPLE_SIZE]
        priority, x_sample = priority[keep], x[keep]
    else:
        x_sample = x
    distinct: dict[str, int] | None = None
    uniques, ucounts = np.unique(x, return_counts=True)
    if uniques.size <= FEW_VALUES:
        distinct = {_key(u): int(c) for u, c in zip(uniques, ucounts, strict=True)}
    mean = float(x.mean()) if x.size else 0.0
    return {
        "kind": "numeric",
        "n": int(x.size),
        "missing": int(values.size - x.size),
        "mean": mean,
        "m2": float(np.sum((x - mean) ** 2)),
        "min": float(x.min()) if x.size else math.inf,
        "max": float(x.max()) if x.size else -math.inf,
        "distinct": distinct,
        "priority": priority,
        "sample": x_sample,
    }


def _no_values(sketch: dict[str, Any]) -> bool:
    return not sketch["counts"] if sketch["kind"] == "categorical" else sketch["n"] == 0


def _merge_sketch(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a["kind"] != b["kind"] and (_no_values(a) or _no_values(b)):
        # a chunk with nothing but missing values has no type of its own (arrow's null type)
        full, empty = (b, a) if _no_values(a) else (a, b)
        return {**full, "missing": full["missing"] + empty["missing"]}
    if a["kind"] != b["kind"]:
        raise ValueError("a column changes type between chunks")
    if a["kind"] == "categorical":
        counts = dict(a["counts"])
        for key, count in b["counts"].items():
            counts[key] = counts.get(key, 0) + count
        return {"kind": "categorical", "missing": a["missing"] + b["missing"], "counts": counts}
    n = a["n"] + b["n"]
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * b["n"] / n if n else 0.0
    m2 = a["m2"] + b["m2"] + (delta * delta * a["n"] * b["n"] / n if n else 0.0)
    distinct: dict[str, int] | None = None
    if a["distinct"] is not None and b["distinct"] is not None:
        distinct = dict(a["distinct"])
        for key, count in b["distinct"].items():
            distinct[key] = distinct.get(key, 0) + count
        if len(distinct) > FEW_VALUES:
            distinct = None
    priority = np.concatenate([a["priority"], b["priority"]])
    sample = np.concatenate([a["sample"], b["sample"]])
    if sample.size > SAMPLE_SIZE:
        keep = np.argpartition(priority, SAMPLE_SIZE)[:SAMPLE_SIZE]
        priority, sample = priority[keep], sample[keep]
    return {
        "kind": "numeric",
        "n": n,
        "missing": a["missing"] + b["missing"],
        "mean": mean,
        "m2": m2,
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
        "distinct": distinct,
        "priority": priority,
        "sample": sample,
    }


def _categorical_profile(counts: Mapping[str, int], missing: int) -> dict[str, Any]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ordered[:MAX_CATEGORIES])
    return {
        "kind": "categorical",
        "n": int(sum(counts.values())),
        "missing": missing,
        "counts": kept,
        "other": int(sum(c for _, c in ordered[MAX_CATEGORIES:])),
    }


def _finish(sketch: dict[str, Any], bins: int) -> dict[str, Any]:
    if sketch["kind"] == "categorical":
        return _categorical_profile(sketch["counts"], sketch["missing"])
    if sketch["distinct"] is not None and sketch["n"]:
        return _categorical_profile(sketch["distinct"], sketch["missing"])
    order = np.argsort(sketch["priority"], kind="stable")
    sample = sketch["sample"][order]  # in hash order: the same whatever the chunking
    n = sketch["n"]
    cuts: list[float] = []
    if n:
        cuts = [float(c) for c in np.unique(np.quantile(sample, np.arange(1, bins) / bins))]
    return {
        "kind": "numeric",
        "n": n,
        "missing": sketch["missing"],
        "mean": sketch["mean"] if n else None,
        "std": math.sqrt(sketch["m2"] / n) if n else None,
        "min": sketch["min"] if n else None,
        "max": sketch["max"] if n else None,
        "cuts": cuts,
        "counts": [0] * (len(cuts) + 1),
        "sample": [float(v) for v in sample],
    }


def reference_profile_from_batches(
    batches: Callable[[], Iterable[Batch]],
    columns: Iterable[str],
    *,
    bins: int = 10,
    seed: int = SEED,
) -> dict[str, Any]:
    """The reference profile of chunked data in two passes: ``batches()`` is called twice and
    must give the same chunks in the same order (pyarrow record batches or data frames)."""
    names = list(dict.fromkeys(columns))
    if bins < 2:
        raise ValueError("bins must be at least 2")
    sketches: dict[str, dict[str, Any]] = {}
    offset = 0
    for batch in batches():
        frame = _frame(batch, names)
        for name in names:
            part = _sketch(frame[name], offset, seed)
            sketches[name] = _merge_sketch(sketches[name], part) if name in sketches else part
        offset += len(frame)
    if not sketches:
        raise ValueError("the reference has no chunks")
    profile = {name: _finish(sketches[name], bins) for name in names}
    numeric = [name for name in names if profile[name]["kind"] == "numeric"]
    if numeric:
        for batch in batches():
            frame = _frame(batch, numeric)
            for name in numeric:
                column = profile[name]
                counts = _bin_counts(column["cuts"], frame[name])
                column["counts"] = [a + b for a, b in zip(column["counts"], counts, strict=True)]
    return {"format": 1, "bins": bins, "seed": seed, "columns": profile}


def reference_profile(
    frame: pd.DataFrame, columns: Iterable[str], *, bins: int = 10, seed: int = SEED
) -> dict[str, Any]:
    """The reference profile of a data frame (the same as built from its chunks)."""
    return reference_profile_from_batches(lambda: [frame], columns, bins=bins, seed=seed)


def _bin_counts(cuts: list[float], values: Iterable[Any]) -> list[int]:
    x = _values(values)
    index = np.searchsorted(np.asarray(cuts, dtype=float), x, side="left")
    return [int(c) for c in np.bincount(index, minlength=len(cuts) + 1)]


def bin_edges(column: Mapping[str, Any]) -> np.ndarray:
    """A numeric column's bin edges, the outer ones -inf and +inf."""
    return np.array([-math.inf, *column["cuts"], math.inf])


def bin_points(column: Mapping[str, Any]) -> np.ndarray:
    """Each bin's mid-point, the outer bins bounded by the reference's min and max."""
    cuts = list(column["cuts"])
    low = min(column["min"], cuts[0]) if cuts else column["min"]
    high = max(column["max"], cuts[-1]) if cuts else column["max"]
    edges = np.array([low, *cuts, high], dtype=float)
    return (edges[:-1] + edges[1:]) / 2


# --- a window against the reference ----------------------------------------------------------


def column_counts(column: Mapping[str, Any], values: Iterable[Any]) -> dict[str, Any]:
    """A column of a window as counts on the reference's bins: what a counts-only window sends."""
    series = pd.Series(values)
    missing = int(series.isna().sum())
    present = series.dropna()
    if column["kind"] == "numeric":
        return {"counts": _bin_counts(column["cuts"], present), "missing": missing}
    counts = dict.fromkeys(column["counts"], 0)
    other = 0
    for value, count in present.value_counts(sort=False).items():
        key = _key(value)
        if key in counts:
            counts[key] += int(count)
        else:
            other += int(count)
    return {"counts": counts, "other": other, "missing": missing}


def window_counts(profile: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Every profiled column of ``frame`` as counts on the reference's bins."""
    return {name: column_counts(column, frame[name]) for name, column in profile["columns"].items()}


def merge_window_counts(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two parts of a window's counts (chunks, or rows that arrived later) added up."""
    merged: dict[str, Any] = {}
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x["counts"], list):
            counts: Any = [i + j for i, j in zip(x["counts"], y["counts"], strict=True)]
            merged[name] = {"counts": counts, "missing": x["missing"] + y["missing"]}
        else:
            counts = {k: x["counts"][k] + y["counts"].get(k, 0) for k in x["counts"]}
            merged[name] = {
                "counts": counts,
                "other": x["other"] + y["other"],
                "missing": x["missing"] + y["missing"],
            }
    return merged


def _vectors(column: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    if column["kind"] == "numeric":
        return list(column["counts"]), list(current["counts"])
    keys = list(column["counts"])
    unknown = sum(n for k, n in current["counts"].items() if k not in column["counts"])
    ref = [column["counts"][k] for k in keys] + [column["other"]]
    cur = [current["counts"].get(k, 0) for k in keys] + [current.get("other", 0) + unknown]
    return ref, cur


def default_test(column: Mapping[str, Any]) -> str:
    """Evidently's choice of test by the column's type and the reference's size."""
    small = column["n"] <= SMALL_REFERENCE_ROWS
    if column["kind"] == "numeric":
        return "ks" if small else "wasserstein"
    if not small:
        return "jensenshannon"
    return "z" if len(column["counts"]) + (column["other"] > 0) <= 2 else "chisquare"


def column_drift(
    column: Mapping[str, Any],
    *,
    values: Iterable[Any] | None = None,
    counts: Mapping[str, Any] | None = None,
    test: str | None = None,
    threshold: float | None = None,
) -> DriftResult:
    """One column's drift from the window's raw ``values`` or its ``counts`` on the reference
    bins (``column_counts``'s shape); ``test`` and ``threshold`` default to Evidently's."""
    name = test or default_test(column)
    if name not in TESTS:
        raise ValueError(f"unknown drift test {name!r}; known: {sorted(TESTS)}")
    numeric = column["kind"] == "numeric"
    if not numeric and name in ("ks", "wasserstein"):
        raise ValueError(f"{name} needs a numeric column")
    if (values is None) == (counts is None):
        raise ValueError("give either the window's values or its counts")
    if values is not None and numeric and name in ("ks", "wasserstein"):
        # exact while the sample holds the whole reference (always for a small one)
        sampled = column["n"] > len(column["sample"])
        if name == "ks":
            return ks_test(column["sample"], values, threshold=threshold, approximate=sampled)
        return wasserstein_test(
            column["sample"],
            values,
            reference_std=column["std"],
            threshold=threshold,
            approximate=sampled,
        )
    current = column_counts(column, values) if values is not None else counts
    assert current is not None
    ref, cur = _vectors(column, current)
    if name == "ks":
        return ks_test_binned(ref, cur, threshold=threshold)
    if name == "wasserstein":
        points = bin_points(column)
        return wasserstein_test_binned(
            ref, cur, points=points, reference_std=column["std"], threshold=threshold
        )
    if name == "z" and len(ref) > 2:
        # the first category against all the others
        ref, cur = [ref[0], sum(ref[1:])], [cur[0], sum(cur[1:])]
    function = {
        "chisquare": chi_square_test,
        "z": z_test,
        "jensenshannon": jensen_shannon_test,
        "psi": psi_test,
    }[name]
    return function(ref, cur, threshold=threshold)


def dataset_drift(
    results: Mapping[str, DriftResult], *, share: float = DRIFT_SHARE
) -> dict[str, Any]:
    """The dataset drifts when the share of drifted columns is at least ``share``."""
    drifted = sorted(name for name, r in results.items() if r.drifted)
    ratio = len(drifted) / len(results) if results else 0.0
    return {
        "columns": len(results),
        "drifted_columns": drifted,
        "share": ratio,
        "threshold": share,
        "drifted": bool(results) and ratio >= share,
    }


def drift_report(
    profile: Mapping[str, Any],
    *,
    frame: pd.DataFrame | None = None,
    counts: Mapping[str, Any] | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = DRIFT_SHARE,
) -> dict[str, Any]:
    """Every profiled column's drift and the dataset's, from a window's rows or its counts;
    ``tests`` and ``thresholds`` are per column name (the monitoring policy's choices)."""
    tests, thresholds = tests or {}, thresholds or {}
    results = {}
    for name, column in profile["columns"].items():
        source: dict[str, Any] = (
            {"values": frame[name]} if frame is not None else {"counts": (counts or {})[name]}
        )
        results[name] = column_drift(
            column, **source, test=tests.get(name), threshold=thresholds.get(name)
        )
    return {
        "columns": {name: r.as_dict() for name, r in results.items()},
        "dataset": dataset_drift(results, share=share),
    }
