"""Which rows SHAP explains: all of them, or a seeded sample stratified by protected group
and predicted class."""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import PRIVILEGED, UNPRIVILEGED, _Inputs, _predict_positive


def _allocate(sizes: np.ndarray, cap: int) -> np.ndarray:
    """Proportional quotas summing to ``cap``, at least one per stratum when room allows."""
    cap = min(cap, int(sizes.sum()))
    exact = cap * sizes / sizes.sum()
    quota = np.floor(exact).astype(int)
    if cap >= len(sizes):
        quota = np.maximum(quota, 1)
    quota = np.minimum(quota, sizes)
    # Largest remainders first; ties go to the earlier stratum (stable sort).
    order = np.argsort(-(exact - quota), kind="stable")
    while quota.sum() < cap:
        for i in order:
            if quota.sum() < cap and quota[i] < sizes[i]:
                quota[i] += 1
    while quota.sum() > cap:
        for i in np.argsort(-(quota - exact), kind="stable"):
            if quota.sum() > cap and quota[i] > 1:
                quota[i] -= 1
    return quota


def _stratified_sample(
    inputs: _Inputs, model: Any, max_rows: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Row positions to explain, and a record of how they were chosen."""
    total = len(inputs.X)
    record: dict[str, Any] = {"total_rows": total, "max_rows": max_rows, "seed": seed}
    if total <= max_rows:
        rows = np.arange(total)
        record.update(strategy="all rows", explained_rows=total, row_indices=rows.tolist())
        return rows, record

    # The predicted class, not "predicted positive", so the sample is the same whichever
    # class is explained.
    predicted = _predict_positive(model, inputs.X, 1) >= 0.5
    attributes = list(inputs.membership)
    code = predicted.astype(np.int64) << len(attributes)
    for bit, name in enumerate(attributes):
        code |= inputs.membership[name].astype(np.int64) << bit
    keys, sizes = np.unique(code, return_counts=True)
    quota = _allocate(sizes, max_rows)
    rng = np.random.default_rng(seed)
    chosen = []
    strata = []
    for key, size, take in zip(keys, sizes, quota, strict=True):
        members = np.flatnonzero(code == key)
        chosen.append(rng.choice(members, size=int(take), replace=False))
        groups = {
            name: PRIVILEGED if (key >> bit) & 1 else UNPRIVILEGED
            for bit, name in enumerate(attributes)
        }
        label = inputs.classes[key >> len(attributes)]
        strata.append(
            {"groups": groups, "predicted_class": label, "rows": int(size), "sampled": int(take)}
        )
    rows = np.sort(np.concatenate(chosen))
    record.update(
        strategy="stratified by protected group x predicted class, proportional, seeded",
        explained_rows=len(rows),
        strata=strata,
        row_indices=rows.tolist(),
    )
    return rows, record
