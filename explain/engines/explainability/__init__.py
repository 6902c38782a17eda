"""SHAP (global) and LIME (local) explanations of a binary classifier, as JSON-ready dicts.

Pure computation: an estimator, a DataFrame of numeric features and the protected
attributes go in; plain dicts (floats rounded, no NaN) come out, identical for identical
input. Row ids are positions in ``X``.

Modules, in the order a report runs: ``inputs`` (validation, group membership, JSON helpers),
``sampling`` (which rows SHAP explains), ``shap`` (explainer choice, values, importance),
``proxies`` (features tied to a protected attribute), ``effects`` (what neutralising a proxy
is estimated to do to the fairness metrics, without retraining), ``plots`` (SVG) and ``lime``
(local explanations). Names with a leading underscore are private to this package.
"""

from __future__ import annotations

from .lime import lime_report
from .plots import shap_plots
from .shap import ShapOutput, shap_report

__all__ = ["ShapOutput", "lime_report", "shap_plots", "shap_report"]
