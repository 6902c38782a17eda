"""Fairness report engine: AIF360's group metrics, computed from confusion counts.

Every metric here is a function of per-group confusion counts (TN, FP, FN, TP), so the data
set is reduced once to counts per (group x cell) stratum and everything else, including the
bootstrap, works on those counts. Definitions follow aif360 0.6.1 (``ClassificationMetric``,
``BinaryLabelDatasetMetric``, ``Reweighing``); the unit tests check them against AIF360 itself.
The one deliberate difference: a 0/0 (for example the precision of a group with no favorable
predictions, which AIF360 reports as 0.0) is reported as ``None``.

Modules: ``inputs`` (columns to indicators, JSON-safe values), ``metrics`` (the definitions),
``strata`` (counts per group and cell), ``bootstrap`` (intervals), ``policy`` (bands and
verdicts), ``mitigation`` (reweighing, thresholds) and ``report`` (assembly). Names with a
leading underscore are private to this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .policy import FAIL, INCONCLUSIVE, PASS, FairnessPolicy, metric_verdict, worst

if TYPE_CHECKING:
    from .metrics import METRICS
    from .report import ENGINE_VERSION, fairness_report, kpi_values

# The numeric modules (numpy, pandas) load on first use, so the policy (which the web process
# needs to validate params) imports without them.
_LAZY = {
    "METRICS": "metrics",
    "ENGINE_VERSION": "report",
    "fairness_report": "report",
    "kpi_values": "report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENGINE_VERSION",
    "FAIL",
    "INCONCLUSIVE",
    "METRICS",
    "PASS",
    "FairnessPolicy",
    "fairness_report",
    "kpi_values",
    "metric_verdict",
    "worst",
]
