"""Proxy detection: how strongly each feature is tied to a protected attribute (normalised
mutual information, |correlation|), and warnings for tied features that also matter."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from .inputs import _num

# Quantile bins used to discretise a numeric feature before measuring mutual information.
PROXY_BINS = 10


def _binned(columns: np.ndarray) -> np.ndarray:
    """Integer codes per row of ``columns`` (one feature per row): the values when few,
    else quantile bins; NaN is code 0."""
    codes = np.zeros(columns.shape, dtype=np.int64)
    ordered = np.sort(columns, axis=1)  # NaN sorts last
    present = (~np.isnan(ordered)).sum(axis=1)
    side: Literal["left", "right"]
    for j, column in enumerate(columns):
        values = ordered[j, : present[j]]
        if len(values) == 0:
            continue
        if np.count_nonzero(np.diff(values)) < PROXY_BINS:
            edges, side = np.unique(values), "left"
        else:
            # Lower quantiles, read straight off the sorted values.
            positions = (np.arange(1, PROXY_BINS) * (len(values) - 1)) // PROXY_BINS
            edges, side = np.unique(values[positions]), "right"
        # At most PROXY_BINS edges: counting the edges below each value is searchsorted's
        # answer, without a binary search per value.
        if side == "left":
            codes[j] = (column[None, :] > edges[:, None]).sum(axis=0) + 1
        else:
            codes[j] = (column[None, :] >= edges[:, None]).sum(axis=0) + 1
    codes[np.isnan(columns)] = 0
    return codes


def _associations(X: pd.DataFrame, membership: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per attribute and feature: normalised mutual information and |correlation|."""
    columns = np.ascontiguousarray(X.to_numpy(dtype=float).T)  # one feature per row
    codes = _binned(columns)
    if np.isnan(columns).any():
        columns = np.where(np.isnan(columns), np.nanmean(columns, axis=1)[:, None], columns)
    centred = columns - columns.mean(axis=1, keepdims=True)
    spread = np.sqrt((centred**2).sum(axis=1))
    out: dict[str, Any] = {}
    for name, member in membership.items():
        flag = member.astype(np.int64)
        p_flag = np.bincount(flag, minlength=2) / len(flag)
        entropy = -sum(p * math.log(p) for p in p_flag if p > 0)
        mutual = _mutual_information(codes, flag)
        f_centred = flag - flag.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (centred @ f_centred) / (spread * math.sqrt(float(f_centred @ f_centred)))
        corr = np.nan_to_num(corr, nan=0.0)
        out[name] = {
            str(feature): {
                "nmi": _num(min(1.0, mutual[j] / entropy)) if entropy else 0.0,
                "abs_correlation": _num(abs(corr[j])),
            }
            for j, feature in enumerate(X.columns)
        }
    return out


def _mutual_information(codes: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between each row of integer codes and a 0/1 flag."""
    n_features, n = codes.shape
    width = int(codes.max()) + 1
    cells = (codes * 2 + flag) + (np.arange(n_features) * 2 * width)[:, None]
    joint = np.bincount(cells.ravel(), minlength=n_features * 2 * width)
    joint = joint.reshape(n_features, width, 2) / n
    outer = joint.sum(axis=2, keepdims=True) * joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / outer), 0.0)
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)


def _proxy_warnings(
    associations: dict[str, Any],
    ranking: list[dict[str, Any]],
    *,
    threshold: float,
    top_k: int,
    min_share: float,
) -> list[dict[str, Any]]:
    """Features tied to a protected attribute that also carry much of the importance."""
    warnings = []
    for name, table in associations.items():
        for entry in ranking:
            feature = entry["feature"]
            link = table[feature]
            associated = max(link["nmi"] or 0.0, link["abs_correlation"] or 0.0) > threshold
            important = entry["rank"] <= top_k or (entry["share"] or 0.0) >= min_share
            if not (associated and important):
                continue
            warnings.append(
                {
                    "feature": feature,
                    "attribute": name,
                    "nmi": link["nmi"],
                    "abs_correlation": link["abs_correlation"],
                    "rank": entry["rank"],
                    "mean_abs_shap": entry["mean_abs_shap"],
                    "share": entry["share"],
                    "is_protected_attribute": feature == name,
                    "message": (
                        f"{feature} is associated with {name} (NMI {link['nmi']:.2f}, "
                        f"|r| {link['abs_correlation']:.2f}) and ranks #{entry['rank']} in "
                        f"importance ({entry['share']:.0%} of total mean |SHAP|); it may act "
                        f"as a proxy for {name}."
                    ),
                }
            )
    return warnings
