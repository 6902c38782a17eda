"""Benchmark the fairness engine against naive AIF360 and fairlearn's MetricFrame bootstrap.

Run as ``.venv/bin/python benchmarks/fairness.py [--rows N]``. The slow baselines are timed on
a few bootstrap samples and extrapolated to the same sample count as ours; the output says so.
Every pair is interleaved (ours, peer, ours, peer ...), each run in its own child process, and
both sides' peak memory is reported. Also: the performance report and the KPI computation
against the fairness report on the same rows, at the defaults users run (1,000 bootstrap
samples, scores supplied), and the three reports as a worker computes them for one version
(the strata counted once) against one fairness report.
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explain.engines.fairness import FairnessPolicy, fairness_report
from explain.engines.fairness.report import fairness_report_from, prepare
from explain.engines.kpis import computed_kpis, kpis_from
from explain.engines.performance import performance_report, performance_report_from

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


def in_child(job: Callable[[], float], trace: bool) -> tuple[float, float]:
    """Run ``job`` (which returns the seconds it counts) in a forked child and, if ``trace``,
    again under tracemalloc there: (seconds, peak MiB allocated during the job, or NaN).

    A fresh process per measurement, so one side's heap, caches and peak never carry into the
    other's; the input data is inherited from the parent and not counted."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        gc.collect()
        seconds = job()
        if not trace:
            send.send((seconds, float("nan")))
            return
        gc.collect()
        tracemalloc.start()
        job()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        send.send((seconds, peak / 2**20))

    process = context.Process(target=child)
    process.start()
    seconds, peak = receive.recv()
    process.join()
    return seconds, peak


def pair(
    ours: Callable[[], float], peer: Callable[[], float], repeats: int
) -> tuple[tuple[float, float], tuple[float, float], list[float], list[float]]:
    """Interleave ours, peer, ours, peer ... each in its own child: median times, and the peak
    memory of the first round (traced in a second run, so the slow peers run twice once)."""
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
    for round_ in range(repeats):
        runs["ours"].append(in_child(ours, trace=round_ == 0))
        runs["peer"].append(in_child(peer, trace=round_ == 0))

    def medians(side: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(s for s, _ in side), side[0][1]

    return (
        medians(runs["ours"]),
        medians(runs["peer"]),
        [s for s, _ in runs["ours"]],
        [s for s, _ in runs["peer"]],
    )


def show(name: str, seconds: float, peak: float, runs: list[float]) -> None:
    each = ", ".join(f"{r:.3f}" for r in runs)
    print(f"  {name}: {seconds:.3f} s, peak {peak:.1f} MiB  (runs: {each})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="bootstrap samples (default: GATEHOUSE_BOOTSTRAP_SAMPLES's default, 1000)",
    )
    parser.add_argument("--naive-samples", type=int, default=1)
    parser.add_argument("--fairlearn-samples", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per pair")
    parser.add_argument(
        "--part",
        choices=["all", "peers", "reports"],
        default="all",
        help="peers: ours vs naive AIF360 and fairlearn (slow at 1M rows: minutes per run); "
        "reports: performance and KPI against the fairness report",
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # aif360 warns about optional extras on import
    warnings.filterwarnings("ignore")

    started = time.perf_counter()
    df = synthetic(args.rows)
    b = args.samples
    k, kf = args.naive_samples, args.fairlearn_samples
    print(f"rows={args.rows:,}  attributes: sex (2 groups), race (4 groups), sex&race (8 groups)")
    print(
        f"bootstrap samples={b}, scores supplied, threshold previews on; "
        f"{len(os.sched_getaffinity(0))} CPUs available"
    )
    print(
        f"each figure: median of {args.repeats} runs, ours and the peer interleaved, each run in "
        "a fresh child process; peak = memory allocated during the first round's run "
        "(tracemalloc, a second run in the same child; the input frame is not counted)"
    )
    # Import time is not part of any measurement: load everything before forking.
    import aif360.metrics  # noqa: F401
    import fairlearn.metrics

    encoded = pd.DataFrame(
        {
            "sex": (df["sex"] == "male").astype(np.float64),
            "race": pd.Categorical(df["race"], categories=RACES).codes.astype(np.float64),
            "label": df["label"].astype(np.float64),
            "prediction": df["prediction"].astype(np.float64),
        }
    )
    verdict = run_ours(df, b)["verdict"]  # also warms up first-call costs in numpy and pandas

    def ours() -> float:
        return timed(run_ours, df, b)

    def naive() -> float:
        """Point estimate plus k bootstrap samples, extrapolated to B samples."""
        rng = np.random.default_rng(0)
        point = timed(naive_sample, encoded, np.arange(len(encoded)))
        boot = sum(
            timed(naive_sample, encoded, rng.integers(0, len(encoded), len(encoded)))
            for _ in range(k)
        )
        return point + boot / k * b

    def fairlearn() -> float:
        """MetricFrame with n_boot=kf; its per-sample time extrapolated to B samples."""
        total, inside = fairlearn_frames(df, kf)
        return total - inside + inside / kf * b

    if args.part in ("all", "peers"):
        peers(ours, naive, fairlearn, verdict, args.repeats, b, k, kf)
    if args.part in ("all", "reports"):
        reports(df, ours, args.repeats)
    print(
        f"benchmark wall time: {time.perf_counter() - started:.0f} s (children's CPU time not "
        "included in this process's; other load on the machine moves both sides of each pair)"
    )


def peers(
    ours: Callable[[], float],
    naive: Callable[[], float],
    fairlearn: Callable[[], float],
    verdict: str,
    repeats: int,
    b: int,
    k: int,
    kf: int,
) -> None:
    """Our fairness report against naive AIF360 and fairlearn's MetricFrame."""
    print(
        f"naive AIF360 = BinaryLabelDataset + ClassificationMetric per attribute/pair and sample: "
        f"point estimate + {k} bootstrap sample(s), extrapolated to {b} samples"
    )
    (o_s, o_m), (n_s, n_m), o_runs, n_runs = pair(ours, naive, repeats)
    print(f"fairness report (verdict {verdict}) vs naive AIF360:")
    show("ours (full report)", o_s, o_m, o_runs)
    show("naive AIF360 (extrapolated)", n_s, n_m, n_runs)
    print(f"  ratio naive/ours: {n_s / o_s:,.0f}x time, {n_m / o_m:.2f}x peak memory")

    print(f"fairlearn MetricFrame per attribute and pair, n_boot={kf}, extrapolated to {b}:")
    (o_s, o_m), (f_s, f_m), o_runs, f_runs = pair(ours, fairlearn, repeats)
    show("ours (full report)", o_s, o_m, o_runs)
    show("fairlearn (extrapolated)", f_s, f_m, f_runs)
    print(f"  ratio fairlearn/ours: {f_s / o_s:,.0f}x time, {f_m / o_m:.2f}x peak memory")


def reports(df: pd.DataFrame, ours: Callable[[], float], repeats: int) -> None:
    """The performance report and the KPI values against the fairness report, same rows."""
    columns = {"label": "label", "prediction": "prediction", "favorable_label": 1}

    def performance() -> float:
        start = time.perf_counter()
        performance_report(df, **columns, score="score", protected=PROTECTED)
        return time.perf_counter() - start

    def kpi() -> float:
        start = time.perf_counter()
        computed_kpis(df, **columns, score="score", protected=PROTECTED)
        return time.perf_counter() - start

    print("performance and KPI reports against the fairness report on the same rows:")
    (p_s, p_m), (o_s, o_m), p_runs, o_runs = pair(performance, ours, repeats)
    show("performance report", p_s, p_m, p_runs)
    show("fairness report", o_s, o_m, o_runs)
    print(f"  ratio performance/fairness: {p_s / o_s:.2f}x time, {p_m / o_m:.2f}x peak memory")
    (kp_s, kp_m), (o2_s, o2_m), kp_runs, o2_runs = pair(kpi, ours, repeats)
    show("KPI values (performance + fairness point estimates)", kp_s, kp_m, kp_runs)
    show("fairness report", o2_s, o2_m, o2_runs)
    print(f"  ratio KPI/fairness: {kp_s / o2_s:.2f}x time, {kp_m / o2_m:.2f}x peak memory")
    together = p_s / o_s + kp_s / o2_s + 1
    print(f"  each computed alone, the three together: {together:.2f}x one fairness report")

    policy = FairnessPolicy()

    def three() -> float:
        """What a worker does for a version's three reports: count the strata once (runners.
        _strata), then the fairness report, the performance report and the KPI values, which
        read the performance report instead of computing it again."""
        start = time.perf_counter()
        prepared = prepare(df, **columns, score="score", protected=PROTECTED)
        fairness_report_from(
            prepared,
            favorable_label=1,
            policy=policy,
            bootstrap_samples=1000,
            seed=0,
            progress=lambda percent, message: None,
        )
        perf = performance_report_from(prepared, favorable_label=1)
        kpis_from(prepared, favorable_label=1, policy=policy, performance_result=perf)
        return time.perf_counter() - start

    (t_s, t_m), (o3_s, o3_m), t_runs, o3_runs = pair(three, ours, repeats)
    show(
        "the three reports from one count of the strata (as the worker runs them)", t_s, t_m, t_runs
    )
    show("fairness report", o3_s, o3_m, o3_runs)
    print(
        f"  ratio three together/one fairness report: {t_s / o3_s:.2f}x time, "
        f"{t_m / o3_m:.2f}x peak memory (computation only; each report also reads the data, "
        "its digest checked, from the worker's parse-once cache)"
    )


if __name__ == "__main__":
    main()
