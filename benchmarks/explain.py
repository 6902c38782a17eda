"""Benchmark: our SHAP report against a bare TreeExplainer on the same rows, at the default
row cap (2,000) on 10,000 and on 1,000,000 rows, and at 10,000 (every row); interleaved, with
both sides' peak memory; and LIME's cost per row.

Run as ``.venv/bin/python benchmarks/explain.py``."""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shap
from sklearn.ensemble import GradientBoostingClassifier

from explain.engines.explainability import lime_report, shap_report

ROWS, FEATURES, REPEATS, LIME_ROWS = 10_000, 30, 9, 10
# A larger data set for the default cap: the overhead must not grow with the rows not explained.
LARGE_ROWS = 1_000_000
# The row cap users run: GATEHOUSE_SHAP_MAX_ROWS's default and shap_report's.
DEFAULT_MAX_ROWS = 2000


def make_data(
    seed: int = 0, rows: int = ROWS
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Seeded synthetic data: a few informative features, one protected attribute."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    group = rng.integers(0, 2, rows)
    X["f5"] = group + rng.normal(scale=0.3, size=rows)
    logits = 1.5 * X["f0"] - X["f1"] + 0.5 * X["f2"] * X["f3"] + 0.8 * X["f5"]
    y = (logits + rng.normal(size=rows) > 0).astype(int).to_numpy()
    return X, y, {"group": group}


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, in seconds, starting from a collected heap so one run's garbage
    is not charged to the next."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_mib(fn: Callable[[], object]) -> float:
    """Memory allocated at the peak of one call (tracemalloc), in MiB; the inputs not counted."""
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def shap_overhead(
    model: object, X: pd.DataFrame, protected: dict[str, np.ndarray], max_rows: int
) -> None:
    """Our report at ``max_rows`` against bare TreeExplainer on the very rows it explains."""
    privileged = {"group": [1]}

    def ours() -> None:
        shap_report(model, X, protected=protected, privileged=privileged, max_rows=max_rows)

    sample = shap_report(model, X, protected=protected, privileged=privileged, max_rows=max_rows)
    rows = sample.result["sample"]["row_indices"]
    X_rows = X.iloc[rows]

    def bare() -> None:
        shap.TreeExplainer(model)(X_rows)

    def bare_values() -> None:
        shap.TreeExplainer(model).shap_values(X_rows)

    ours(), bare(), bare_values()  # warm up imports and caches
    times: dict[str, list[float]] = {"ours": [], "bare": [], "bare_values": []}
    for _ in range(REPEATS):  # interleaved, so machine load affects all alike
        for name, fn in (
            ("ours", ours),
            ("bare", bare),
            ("ours", ours),
            ("bare_values", bare_values),
        ):
            times[name].append(timed(fn))
    med = {name: statistics.median(values) for name, values in times.items()}
    # Peak memory after the timed rounds: tracing slows a run, so it is measured apart.
    peak = {"ours": peak_mib(ours), "bare": peak_mib(bare), "bare_values": peak_mib(bare_values)}
    label = f"max_rows={max_rows}" + (" (the default)" if max_rows == DEFAULT_MAX_ROWS else "")
    print(f"-- shap_report({label}): explains {len(rows)} of {len(X)} rows")
    for name, text in (
        ("bare", "bare shap.TreeExplainer(model)(X_rows):            "),
        ("bare_values", "bare shap.TreeExplainer(model).shap_values(X_rows):"),
        ("ours", "shap_report:                                       "),
    ):
        print(f"   {text} median {med[name]:.3f} s, peak {peak[name]:.1f} MiB")
    for name in ("bare", "bare_values"):
        ratio = med["ours"] / med[name]
        print(
            f"   ratio ours/{name}: {ratio:.3f} time (overhead {ratio - 1:+.1%}; target <= +10%), "
            f"{peak['ours'] / peak[name]:.2f}x peak memory"
        )


def main() -> None:
    """Print the SHAP overhead ratio at the default row cap and at 10,000, and LIME s/row."""
    X, y, protected = make_data()
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    privileged = {"group": [1]}
    print(f"data: {ROWS} rows x {FEATURES} features; model: GradientBoostingClassifier(100 trees)")
    print(f"(medians over {REPEATS} interleaved rounds: ours, bare, ours, bare_values)")
    for max_rows in (DEFAULT_MAX_ROWS, ROWS):
        shap_overhead(model, X, protected, max_rows)
    # The same model on more rows (drawn from the same distribution) at the default cap.
    X_large, _, protected_large = make_data(seed=1, rows=LARGE_ROWS)
    shap_overhead(model, X_large, protected_large, DEFAULT_MAX_ROWS)

    rows = list(range(LIME_ROWS))
    lime_s = timed(
        lambda: lime_report(model, X, protected=protected, privileged=privileged, rows=rows)
    )
    print(f"lime_report: {lime_s:.2f} s for {LIME_ROWS} rows = {lime_s / LIME_ROWS:.3f} s/row")


if __name__ == "__main__":
    main()
