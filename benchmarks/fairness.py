"""Benchmark the fairness engine against naive AIF360 and fairlearn's MetricFrame bootstrap.

Run as ``.venv/bin/python benchmarks/fairness.py [--rows N]``. The slow baselines are timed on
a few bootstrap samples and extrapolated to the same sample count as ours; the output says so.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explain.engines.fairness import fairness_report

PROTECTED = {"sex": {"privileged": ["male"]}, "race": {"privileged": ["white"]}}
SEXES = ["female", "male"]
RACES = ["white", "black", "asian", "other"]


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """Seeded data: 2-group and 4-group attributes, labels, scores and thresholded predictions."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, rows)
    race = rng.choice(4, rows, p=[0.55, 0.2, 0.15, 0.1])
    y = (rng.random(rows) < 0.35 + 0.08 * sex + 0.05 * (race == 0)).astype(np.int64)
    score = np.clip(0.55 * rng.random(rows) + 0.3 * y + 0.07 * sex, 0, 1)
    return pd.DataFrame(
        {
            "sex": np.array(SEXES)[sex],
            "race": np.array(RACES)[race],
            "label": y,
            "score": score,
            "prediction": (score >= 0.5).astype(np.int64),
        }
    )


def run_ours(df: pd.DataFrame, samples: int) -> dict[str, Any]:
    return fairness_report(
        df,
        label="label",
        prediction="prediction",
        favorable_label=1,
        protected=PROTECTED,
        score="score",
        bootstrap_samples=samples,
        seed=0,
    )


def units() -> list[tuple[list[str], list[dict[str, int]], list[list[dict[str, int]]]]]:
    """Attributes and the pair as AIF360 group lists: privileged, then each unprivileged side."""
    sex_priv, race_priv = [{"sex": 1}], [{"race": 0}]
    race_others = [{"race": r} for r in (1, 2, 3)]
    pair_priv = [{"sex": 1, "race": 0}]
    pair_others = [{"sex": s, "race": r} for s in (0, 1) for r in range(4) if (s, r) != (1, 0)]
    return [
        (["sex"], sex_priv, [[{"sex": 0}]]),
        (["race"], race_priv, [race_others] + [[g] for g in race_others]),
        (["sex", "race"], pair_priv, [pair_others] + [[g] for g in pair_others]),
    ]


def naive_sample(encoded: pd.DataFrame, index: np.ndarray) -> None:
    """One bootstrap sample the naive way: AIF360 datasets and metrics rebuilt per unit."""
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    sample = encoded.iloc[index].reset_index(drop=True)
    for attrs, privileged, sides in units():
        truth = BinaryLabelDataset(
            df=sample[[*attrs, "label"]], label_names=["label"], protected_attribute_names=attrs
        )
        pred = truth.copy(deepcopy=True)
        pred.labels = sample[["prediction"]].to_numpy(dtype=np.float64)
        for unprivileged in sides:
            metric = ClassificationMetric(
                truth, pred, unprivileged_groups=unprivileged, privileged_groups=privileged
            )
            metric.statistical_parity_difference()
            metric.disparate_impact()
            metric.equal_opportunity_difference()
            metric.average_odds_difference()


def fairlearn_frames(df: pd.DataFrame, n_boot: int) -> tuple[float, float]:
    """fairlearn MetricFrame per attribute and pair with its own bootstrap (n_boot).

    Returns (total seconds, seconds spent inside fairlearn's per-sample bootstrap function),
    so the per-sample cost can be separated from the point estimate in one run.
    """
    from fairlearn.metrics import (
        MetricFrame,
        _bootstrap,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
    }
    inside = 0.0
    original = _bootstrap.generate_single_bootstrap_sample

    def timed_sample(**kwargs: Any) -> Any:
        nonlocal inside
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            inside += time.perf_counter() - start

    _bootstrap.generate_single_bootstrap_sample = timed_sample
    start = time.perf_counter()
    try:
        for features in (df["sex"], df["race"], df[["sex", "race"]]):
            frame = MetricFrame(
                metrics=metrics,
                y_true=df["label"],
                y_pred=df["prediction"],
                sensitive_features=features,
                n_boot=n_boot,
                ci_quantiles=[0.025, 0.975],
                random_state=0,
            )
            frame.difference()
            frame.ratio()
    finally:
        _bootstrap.generate_single_bootstrap_sample = original
    return time.perf_counter() - start, inside


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap samples")
    parser.add_argument("--naive-samples", type=int, default=1)
    parser.add_argument("--fairlearn-samples", type=int, default=1)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # aif360 warns about optional extras on import
    warnings.filterwarnings("ignore")

    started = time.perf_counter()
    df = synthetic(args.rows)
    b = args.samples
    print(f"rows={args.rows:,}  attributes: sex (2 groups), race (4 groups), sex&race (8 groups)")
    print(
        f"bootstrap samples={b}, scores supplied, threshold previews on; "
        f"{len(os.sched_getaffinity(0))} CPUs available"
    )

    # Ours: median wall time of three untraced runs, then one run under tracemalloc.
    runs = sorted(timed(run_ours, df, b) for _ in range(3))
    ours = runs[1]
    rss_after_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    result = run_ours(df, b)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"ours: full report {ours:.3f} s wall, median of 3 runs "
        f"({', '.join(f'{r:.3f}' for r in runs)}); verdict {result['verdict']}"
    )
    print(
        f"ours: peak memory {traced_peak / 2**20:.1f} MiB allocated during the report "
        f"(tracemalloc, excludes the input frame); process peak RSS {rss_after_ours:.0f} MiB "
        "(resource.getrusage ru_maxrss, includes the input data and imports)"
    )

    # Naive AIF360: the point estimate plus k bootstrap samples, extrapolated to B.
    import aif360.metrics  # noqa: F401  (import time is not part of the measurement)

    encoded = pd.DataFrame(
        {
            "sex": (df["sex"] == "male").astype(np.float64),
            "race": pd.Categorical(df["race"], categories=RACES).codes.astype(np.float64),
            "label": df["label"].astype(np.float64),
            "prediction": df["prediction"].astype(np.float64),
        }
    )
    rng = np.random.default_rng(0)
    naive_point = timed(naive_sample, encoded, np.arange(len(encoded)))
    k = args.naive_samples
    naive_boot = sum(
        timed(naive_sample, encoded, rng.integers(0, len(encoded), len(encoded))) for _ in range(k)
    )
    naive = naive_point + naive_boot / k * b
    print(
        f"naive AIF360 (BinaryLabelDataset + ClassificationMetric per attribute/pair and "
        f"sample): point estimate {naive_point:.2f} s + {k} bootstrap sample(s) measured "
        f"{naive_boot:.2f} s, extrapolated to {b} samples: {naive:.0f} s"
    )

    # fairlearn MetricFrame with n_boot=k: per-sample time measured inside its bootstrap.
    import fairlearn.metrics  # import time is not part of the measurement

    kf = args.fairlearn_samples
    fl_total, fl_boot = fairlearn_frames(df, kf)
    fl_rest = fl_total - fl_boot
    fairlearn = fl_rest + fl_boot / kf * b
    print(
        f"fairlearn MetricFrame (n_boot={kf}): {fl_total:.2f} s, of which {fl_boot:.2f} s in "
        f"its {kf} bootstrap sample(s) x 3 frames; extrapolated to n_boot={b}: {fairlearn:.0f} s"
    )
    print(f"ratio naive/ours: {naive / ours:,.0f}x   fairlearn/ours: {fairlearn / ours:,.0f}x")
    print(
        f"benchmark wall time: {time.perf_counter() - started:.0f} s, CPU time "
        f"{time.process_time():.0f} s (wall far above CPU means other load on the machine)"
    )


if __name__ == "__main__":
    main()
