"""The data set reduced once to counts per (joint group x confusion cell) stratum, and each
attribute and pair of attributes (a "unit") mapped onto those strata."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .inputs import encode_groups


@dataclass
class _Unit:
    """One attribute or intersection: its groups and where its strata sit in the joint table."""

    name: str
    columns: tuple[str, ...]
    values: list[Any]
    privileged: np.ndarray
    stratum_target: np.ndarray
    row_codes: Callable[[], np.ndarray]

    @property
    def n_groups(self) -> int:
        return len(self.values)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _parse_protected(
    frame: pd.DataFrame, protected: Mapping[str, Mapping[str, Any]]
) -> dict[Any, list[Any]]:
    if not protected:
        raise ValueError("at least one protected attribute is required")
    parsed: dict[Any, list[Any]] = {}
    for column, spec in protected.items():
        if column not in frame.columns:
            raise ValueError(f"protected attribute column {column!r} not found")
        if not isinstance(spec, Mapping) or "privileged" not in spec:
            raise ValueError(f"protected attribute {column!r} needs {{'privileged': [...]}}")
        values = spec["privileged"]
        if isinstance(values, str) or not isinstance(values, Sequence):
            values = [values]
        parsed[column] = list(values)
    return parsed


# Joint (groups x cell) key spaces up to this size are counted with one bincount and decoded
# arithmetically; larger ones are compacted with np.unique (a sort).
_DENSE_STRATA_KEYS = 1 << 22


def _joint_strata(
    codes: list[np.ndarray], cell: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Count rows per (joint group x cell) stratum, in ascending order of the mixed-radix key;
    return the counts, each column's group code of each stratum, and each stratum's cell."""
    sizes = [int(c.max()) + 1 for c in codes]
    if 4 * math.prod(sizes) <= _DENSE_STRATA_KEYS:
        key = np.zeros(len(cell), dtype=np.int64)
        for c, size in zip(codes, sizes, strict=True):
            key *= size
            key += c
        key *= 4
        key += cell
        all_counts = np.bincount(key, minlength=4 * math.prod(sizes))
        observed = np.flatnonzero(all_counts)
        rest, strata_cell = np.divmod(observed, 4)
        strata_codes: list[np.ndarray] = []
        for size in reversed(sizes):
            rest, code = np.divmod(rest, size)
            strata_codes.append(code)
        return all_counts[observed].astype(np.int64), strata_codes[::-1], strata_cell
    key = np.zeros(len(cell), dtype=np.int64)
    span = 1
    for c, size in zip(codes, sizes, strict=True):
        if span * size * 4 >= 2**62:  # keep the mixed-radix key inside int64
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            span = int(key.max()) + 1
        key = key * size + c
        span *= size
    key = key * 4 + cell
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return counts.astype(np.int64), [c[first] for c in codes], cell[first]


def _aggregate(strata_counts: np.ndarray, target: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum joint-stratum counts shaped (..., K) into unit strata shaped (..., G, 4)."""
    order = np.argsort(target, kind="stable")
    sorted_target = target[order]
    starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
    out = np.zeros((*strata_counts.shape[:-1], n_groups * 4), dtype=np.int64)
    out[..., sorted_target[starts]] = np.add.reduceat(strata_counts[..., order], starts, axis=-1)
    return out.reshape(*strata_counts.shape[:-1], n_groups, 4)


def _comparison_sides(
    counts: np.ndarray, privileged: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Privileged totals, and the unprivileged side of each comparison (aggregate first)."""
    priv = counts[..., privileged, :].sum(axis=-2)
    others = np.flatnonzero(~privileged)
    members = [others]
    sides = [counts[..., others, :].sum(axis=-2)]
    if len(others) > 1:
        for g in others:
            members.append(np.array([g]))
            sides.append(counts[..., g, :])
    return priv, np.stack(sides, axis=-2), members


def _build_units(
    frame: pd.DataFrame, privileged: dict[Any, list[Any]], cell: np.ndarray
) -> tuple[list[_Unit], np.ndarray, list[str]]:
    """Encode attributes once, count joint strata, and map strata to attributes and pairs."""
    warnings: list[str] = []
    encoded: dict[Any, tuple[np.ndarray, list[Any], np.ndarray]] = {}
    for column, priv_values in privileged.items():
        codes, values = encode_groups(frame[column])
        for p in priv_values:
            if not any(_same(v, p) for v in values):
                warnings.append(f"privileged value {p!r} of {column!r} does not occur in the data")
                values.append(p)  # an empty group, so the report shows it
        flags = np.array([any(_same(v, p) for p in priv_values) for v in values], dtype=bool)
        encoded[column] = (codes, values, flags)
    columns = list(encoded)
    strata_counts, codes_of_strata, strata_cell = _joint_strata(
        [encoded[c][0] for c in columns], cell
    )
    strata_codes = dict(zip(columns, codes_of_strata, strict=True))

    units: list[_Unit] = []
    for column in columns:
        codes, values, flags = encoded[column]
        units.append(
            _Unit(
                name=str(column),
                columns=(str(column),),
                values=values,
                privileged=flags,
                stratum_target=strata_codes[column] * 4 + strata_cell,
                # mypy cannot type a lambda whose defaults bind the loop's values.
                row_codes=lambda codes=codes: codes,  # type: ignore[misc]
            )
        )
    for a, b in combinations(columns, 2):
        codes_a, values_a, flags_a = encoded[a]
        codes_b, values_b, flags_b = encoded[b]
        size_b = len(values_b)
        raw = strata_codes[a] * size_b + strata_codes[b]
        observed, compact = np.unique(raw, return_inverse=True)
        lookup = np.full(len(values_a) * size_b, -1, dtype=np.int64)
        lookup[observed] = np.arange(len(observed))
        ia, ib = np.divmod(observed, size_b)
        units.append(
            _Unit(
                name=f"{a}&{b}",
                columns=(str(a), str(b)),
                values=[(values_a[i], values_b[j]) for i, j in zip(ia, ib, strict=True)],
                privileged=flags_a[ia] & flags_b[ib],
                stratum_target=compact * 4 + strata_cell,
                row_codes=lambda ca=codes_a, cb=codes_b, lk=lookup, s=size_b: lk[ca * s + cb],  # type: ignore[misc]
            )
        )
    return units, strata_counts, warnings
