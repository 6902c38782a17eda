"""Bootstrap confidence intervals, drawn as multinomial stratum counts."""

from __future__ import annotations

import numpy as np

from .inputs import ProgressCallback
from .metrics import METRICS, comparison_metrics
from .strata import _aggregate, _comparison_sides, _Unit

# Bound the (bootstrap samples x strata) block held in memory at once.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


def _bootstrap(
    strata_counts: np.ndarray,
    units: list[_Unit],
    *,
    samples: int,
    seed: int,
    progress: ProgressCallback,
) -> list[dict[str, np.ndarray]]:
    """Bootstrap replicates of each unit's comparison metrics, each shaped (samples, M).

    Resampling n rows with replacement gives each row a multiplicity, and the number of
    resampled rows that fall in each (joint group x confusion cell) stratum is then exactly
    Multinomial(n, stratum_count / n). Every metric is a function of those stratum counts, so
    drawing the counts directly is the same bootstrap as resampling rows, at
    O(samples x strata) cost instead of O(samples x n), with no index arrays. Drawing on the
    joint strata of all attributes keeps one resample shared by every attribute and
    intersection, as with resampling the whole data set.
    """
    n = int(strata_counts.sum())
    pvals = strata_counts / n
    rng = np.random.default_rng(seed)
    block = max(1, min(samples, _BOOTSTRAP_BLOCK_CELLS // len(strata_counts)))
    replicates: list[dict[str, np.ndarray]] = [{} for _ in units]
    done = 0
    while done < samples:
        size = min(block, samples - done)
        draws = rng.multinomial(n, pvals, size=size)
        for unit, store in zip(units, replicates, strict=True):
            counts = _aggregate(draws, unit.stratum_target, unit.n_groups)
            priv, unpriv, _ = _comparison_sides(counts, unit.privileged)
            for metric, values in comparison_metrics(priv, unpriv).items():
                if metric in METRICS:
                    store.setdefault(metric, np.empty((samples, values.shape[-1])))
                    store[metric][done : done + size] = values
        done += size
        progress(20 + int(70 * done / samples), f"bootstrap {done}/{samples}")
    return replicates


def _intervals(values: np.ndarray, level: float) -> list[list[float] | None]:
    """Percentile intervals per column; None where any replicate is undefined."""
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        bounds = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    defined = np.isfinite(values).all(axis=0)
    return [
        [float(bounds[0, m]), float(bounds[1, m])] if defined[m] else None
        for m in range(values.shape[1])
    ]
