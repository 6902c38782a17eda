"""Performance report engine: classification metrics overall and per protected group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from explain.engines.fairness.inputs import (
    FN,
    FP,
    TN,
    TP,
    as_frame,
    divide,
    encode_groups,
    json_value,
    number,
    outcomes_from,
)
from explain.engines.fairness.report import Prepared
from explain.engines.fairness.strata import _aggregate

ENGINE_VERSION = "gatehouse-performance/1"

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def classification_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall and F1 from confusion counts shaped (..., 4)."""
    c = counts.astype(np.float64)
    tn, fp, fn, tp = c[..., TN], c[..., FP], c[..., FN], c[..., TP]
    return {
        "accuracy": divide(tp + tn, tn + fp + fn + tp),
        "precision": divide(tp, tp + fp),
        "recall": divide(tp, tp + fn),
        "f1": divide(2 * tp, 2 * tp + fp + fn),
    }


# Up to this many rows, rank sums (half-integers below 2**52) add up exactly in any order, so
# rows tied on score may be sorted in any order; beyond it, keep the stable order.
_EXACT_RANK_SUM_ROWS = 2**26


# Up to this many groups, an attribute's ROC AUC is counted group by group in score order (a
# few linear passes each); beyond it, rows are sorted by group once (``_roc_auc_by_sorting``).
_GROUP_PASSES_MAX_GROUPS = 16


@dataclass(frozen=True)
class ScoreOrder:
    """Rows sorted by score once, with the scores and labels in that order, for every group's
    ROC AUC; and, when scores tie, for each sorted row the positions where its block of tied
    scores starts (``first``) and ends (``after``, one past its last row)."""

    order: np.ndarray
    score: np.ndarray
    positive: np.ndarray
    first: np.ndarray | None = None
    after: np.ndarray | None = None


def score_order(positive: np.ndarray, score: np.ndarray) -> ScoreOrder:
    """The one sort by score that every group's ROC AUC reads."""
    order = np.argsort(score, kind="stable" if len(score) > _EXACT_RANK_SUM_ROWS else None)
    ordered = score[order]
    n = len(ordered)
    starts = np.empty(n, dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    if starts.all():
        return ScoreOrder(order, ordered, positive[order])
    index = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    ends = np.empty(n, dtype=bool)
    ends[-1:] = True
    ends[:-1] = starts[1:]
    after = np.minimum.accumulate(np.where(ends, index + 1, n)[::-1])[::-1]
    return ScoreOrder(order, ordered, positive[order], first, after)


def roc_auc_by_group(
    codes: np.ndarray,
    n_groups: int,
    positive: np.ndarray,
    score: np.ndarray,
    by_score: ScoreOrder | None = None,
) -> np.ndarray:
    """ROC AUC per group by the Mann-Whitney formula (ties count one half); a group with a
    single class gets NaN.

    Rows are sorted by score once (``by_score``, shared by every attribute). For a few groups,
    each group's pairs (negative ranked below positive) are counted in that order with one
    running count of its negatives; else rows are sorted stably by group as well.
    """
    if by_score is None:
        by_score = score_order(positive, score)
    if n_groups <= _GROUP_PASSES_MAX_GROUPS:
        return _roc_auc_by_group_passes(codes, n_groups, by_score)
    return _roc_auc_by_sorting(codes, n_groups, by_score)


def _roc_auc_by_group_passes(codes: np.ndarray, n_groups: int, by_score: ScoreOrder) -> np.ndarray:
    """ROC AUC of each of a few groups from one pass per group over the rows in score order.

    For a positive row, the negatives of its group below it count 1 each and those tied with it
    one half: twice its count is (negatives before its tie block) + (negatives up to the block's
    end), read off a running count. Integer sums, so exact in any order; the same numbers as
    the rank-sum formula (rank sum - P(P+1)/2 is that count)."""
    c = codes.astype(np.int16, copy=False)[by_score.order]
    positive = by_score.positive.astype(bool, copy=False)
    negative = ~positive
    running = np.zeros(len(c) + 1, dtype=np.int64)  # running[k]: negatives among rows < k
    twice = np.zeros(n_groups, dtype=np.int64)
    pos = np.zeros(n_groups, dtype=np.float64)
    sizes = np.zeros(n_groups, dtype=np.int64)
    for g in range(n_groups):
        member = c == g
        np.cumsum(member & negative, out=running[1:])
        rows = np.flatnonzero(member & positive)
        if by_score.first is None or by_score.after is None:  # no ties
            twice[g] = 2 * int(running[rows].sum())
        else:
            twice[g] = int(running[by_score.first[rows]].sum()) + int(
                running[by_score.after[rows]].sum()
            )
        pos[g] = len(rows)
        sizes[g] = np.count_nonzero(member)
    neg = sizes - pos
    return divide(twice / 2, pos * neg)


def _roc_auc_by_sorting(codes: np.ndarray, n_groups: int, by_score: ScoreOrder) -> np.ndarray:
    """ROC AUC per group by the rank-sum formula with mid-ranks for ties: rows in score order
    sorted stably by group code (for small codes a linear-time radix pass)."""
    if n_groups > 1:
        small = np.int16 if n_groups <= np.iinfo(np.int16).max else np.int64
        c = codes.astype(small, copy=False)[by_score.order]
        within = np.argsort(c, kind="stable")
        c, s, y = c[within], by_score.score[within], by_score.positive[within]
    else:
        c = np.zeros(len(codes), dtype=np.int16)
        s, y = by_score.score, by_score.positive
    n = len(c)
    # Blocks of rows tied on (group, score) share a mid-rank; sum ranks and positives per block.
    starts = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (s[1:] != s[:-1])])
    ends = np.r_[starts[1:], n] - 1
    block_group = c[starts]
    block_pos = np.add.reduceat(y.astype(np.int64), starts)
    sizes = np.bincount(c, minlength=n_groups)
    group_start = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = (starts + ends) / 2 - group_start[block_group] + 1
    # Half-integers below 2**52: these sums are exact in any order (see _EXACT_RANK_SUM_ROWS).
    rank_sum = np.bincount(block_group, weights=rank * block_pos, minlength=n_groups)
    pos = np.bincount(block_group, weights=block_pos.astype(np.float64), minlength=n_groups)
    neg = sizes - pos
    return divide(rank_sum - pos * (pos + 1) / 2, pos * neg)


def _rows(
    codes: np.ndarray,
    n_groups: int,
    cell: np.ndarray,
    y_true: np.ndarray,
    score: np.ndarray | None,
    by_score: ScoreOrder | None,
) -> list[dict[str, Any]]:
    counts = np.bincount(codes * 4 + cell, minlength=n_groups * 4).reshape(n_groups, 4)
    return _rows_of(counts, codes, y_true, score, by_score)


def _rows_of(
    counts: np.ndarray,
    codes: np.ndarray,
    y_true: np.ndarray,
    score: np.ndarray | None,
    by_score: ScoreOrder | None,
) -> list[dict[str, Any]]:
    """One row of metrics per group from its confusion counts (G, 4) and the rows' codes."""
    n_groups = len(counts)
    metrics = classification_metrics(counts)
    if score is not None:
        metrics["roc_auc"] = roc_auc_by_group(codes, n_groups, y_true, score, by_score)
    rows = []
    for g in range(n_groups):
        row: dict[str, Any] = {"count": int(counts[g].sum())}
        row.update({name: number(values[g]) for name, values in metrics.items()})
        row.setdefault("roc_auc", None)
        rows.append(row)
    return rows


def _result(
    n: int, favorable_label: Any, score: Any, overall: dict[str, Any], attributes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "engine": ENGINE_VERSION,
        "rows": n,
        "favorable_label": json_value(favorable_label),
        "scores_supplied": score is not None,
        "overall": overall,
        "attributes": attributes,
    }


def performance_report(
    data: pd.DataFrame | Mapping[str, Any],
    *,
    label: str,
    prediction: str,
    favorable_label: Any,
    protected: Mapping[str, Any] | Sequence[str] = (),
    score: str | None = None,
) -> dict[str, Any]:
    """Compute classification metrics overall and per group of each protected attribute."""
    frame = as_frame(data)
    outcomes = outcomes_from(
        frame, label=label, prediction=prediction, favorable_label=favorable_label, score=score
    )
    columns = list(protected)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"protected attribute columns not found: {missing}")
    cell = outcomes.y_true.astype(np.int64) * 2 + outcomes.y_pred
    n = len(cell)
    scores = outcomes.score
    by_score = score_order(outcomes.y_true, scores) if scores is not None else None
    (overall,) = _rows(np.zeros(n, dtype=np.int64), 1, cell, outcomes.y_true, scores, by_score)
    attributes = {}
    for column in columns:
        codes, values = encode_groups(frame[column])
        rows = _rows(codes, len(values), cell, outcomes.y_true, scores, by_score)
        attributes[str(column)] = {
            "groups": [{"value": json_value(v), **row} for v, row in zip(values, rows, strict=True)]
        }
    return _result(n, favorable_label, scores, overall, attributes)


def performance_report_from(prepared: Prepared, *, favorable_label: Any) -> dict[str, Any]:
    """The performance report of each protected attribute, from the strata a fairness report
    counted (``fairness.prepare``): the same result as ``performance_report`` over the same
    attributes, without counting the rows again."""
    outcomes = prepared.outcomes
    score = outcomes.score
    by_score = score_order(outcomes.y_true, score) if score is not None else None
    n = int(prepared.total.sum())
    zeros = np.zeros(n, dtype=np.int64)
    (overall,) = _rows_of(prepared.total[None, :], zeros, outcomes.y_true, score, by_score)
    attributes = {}
    for unit in prepared.units:
        if len(unit.columns) != 1:
            continue
        counts = _aggregate(prepared.strata_counts, unit.stratum_target, unit.n_groups)
        rows = _rows_of(counts, unit.row_codes(), outcomes.y_true, score, by_score)
        # A privileged value missing from the data is an empty group in a fairness report;
        # a performance report lists only the values that occur.
        attributes[unit.name] = {
            "groups": [
                {"value": json_value(v), **row}
                for v, row in zip(unit.values, rows, strict=True)
                if row["count"]
            ]
        }
    return _result(n, favorable_label, score, overall, attributes)


def kpi_values(result: Mapping[str, Any]) -> dict[str, float]:
    """Flatten a performance report into KPI keys: accuracy, f1, ... and recall[sex=F]."""
    values: dict[str, float | None] = {m: result["overall"].get(m) for m in METRICS}
    for column, section in result.get("attributes", {}).items():
        for group in section["groups"]:
            for metric in METRICS:
                values[f"{metric}[{column}={group['value']}]"] = group.get(metric)
    return {k: float(v) for k, v in values.items() if v is not None}
