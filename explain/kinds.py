"""Every report kind declared once: its runner, params, engines and what it counts for.

Services, gates, bundles, the API's choices and the pages read ``KINDS`` instead of keeping their
own lists, so a new kind is one entry here plus its runner: no migration (``Report.kind`` stores
the key; the services refuse one not declared here), no list to extend elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from registry.models import ModelVersion

from . import runners
from .engines import fairness
from .models import Report

Runner = Callable[[ModelVersion, dict[str, Any], runners.Progress], runners.RunOutput]
ParamRule = Callable[[Any, ModelVersion], str | None]

# Keys of the kinds that code names one by one (the gates' fairness and KPI checks, the pages
# and the bundle that show each kind's result their own way). A new kind needs none.
FAIRNESS = "fairness"
PERFORMANCE = "performance"
KPI = "kpi"
SHAP = "shap"
LIME = "lime"
REFERENCE = "reference"

# Libraries every kind's numbers depend on.
BASE_ENGINES = ("numpy", "pandas", "scikit-learn")


@dataclass(frozen=True)
class KindSpec:
    """One report kind: how it runs and where it counts."""

    key: str
    label: str
    runner: Runner
    # The params it runs with unless the requester overrides them; only these may be given.
    default_params: Callable[[ModelVersion], dict[str, Any]] = runners.no_params
    # Errors by param name for given values; a param without a rule takes any value.
    param_rules: Mapping[str, ParamRule] = field(default_factory=dict)
    engines: tuple[str, ...] = ()
    # Queued when a version is registered.
    automatic: bool = False
    needs_model_file: bool = False
    # Its result is part of what a sign-off covers.
    is_evidence: bool = False
    # The gates require a successful, current report of it always, or when the policy asks
    # for explanations (``ReviewPolicy.require_shap_report``).
    required: bool = False
    policy_can_require: bool = False
    # Params that must still equal the model's current defaults for the report to be current.
    current_params: tuple[str, ...] = ()
    # A report setting any of these is a one-off request, never the kind's latest report.
    one_off_params: tuple[str, ...] = ()
    # Files of raw evaluation values, which an exported bundle leaves out (its record keeps
    # each one's name and sha256): a bundle carries results and plots, never the data.
    raw_data_files: tuple[str, ...] = ()


def _int_between(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"Must be a whole number from {low:,} to {high:,}."
    return None


def _number_between(value: Any, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return f"Must be a number from {low} to {high}."
    return None


def _policy_error(value: Any, _: ModelVersion) -> str | None:
    try:
        fairness.FairnessPolicy.from_dict(value if isinstance(value, dict) else None)
    except (TypeError, ValueError) as exc:
        return f"Not a valid fairness policy: {exc}"
    return None if isinstance(value, dict) else "Must be an object."


def _kpis_error(value: Any, version: ModelVersion) -> str | None:
    if value == runners.kpi_definitions(version):
        return None
    return "KPIs come from the model's objectives; change them there."


def _rows_error(value: Any, version: ModelVersion) -> str | None:
    if value is None:
        return None
    count = version.evaluation_data.row_count
    if not isinstance(value, list) or not 1 <= len(value) <= 50:
        return "Must be a list of 1 to 50 row numbers."
    if any(_int_between(row, 0, count - 1) for row in value):
        return f"Row numbers go from 0 to {count - 1:,}."
    return None


def _seed(value: Any, _: ModelVersion) -> str | None:
    return _int_between(value, 0, 2**32 - 1)


KINDS: dict[str, KindSpec] = {
    spec.key: spec
    for spec in (
        KindSpec(
            key=FAIRNESS,
            label="Fairness",
            runner=runners.run_fairness,
            default_params=runners.fairness_defaults,
            param_rules={
                "bootstrap_samples": lambda v, _: _int_between(v, 0, 100_000),
                "seed": _seed,
                "policy": _policy_error,
            },
            engines=("aif360",),
            automatic=True,
            is_evidence=True,
            required=True,
            current_params=("policy",),
        ),
        KindSpec(
            key=PERFORMANCE,
            label="Performance",
            runner=runners.run_performance,
            automatic=True,
            is_evidence=True,
            required=True,
        ),
        KindSpec(
            key=KPI,
            label="KPI measurements",
            runner=runners.run_kpi,
            default_params=runners.kpi_defaults,
            param_rules={"policy": _policy_error, "kpis": _kpis_error},
            engines=("aif360",),
            automatic=True,
            is_evidence=True,
            required=True,
            current_params=("policy", "kpis"),
        ),
        KindSpec(
            key=SHAP,
            label="SHAP (global explanations)",
            runner=runners.run_shap,
            default_params=runners.shap_defaults,
            param_rules={
                "max_rows": lambda v, _: _int_between(v, 1, 100_000),
                "background_rows": lambda v, _: _int_between(v, 1, 10_000),
                "seed": _seed,
                "proxy_threshold": lambda v, _: _number_between(v, 0.0, 1.0),
            },
            engines=("shap", "skops"),
            automatic=True,
            needs_model_file=True,
            is_evidence=True,
            policy_can_require=True,
        ),
        KindSpec(
            key=LIME,
            label="LIME (local explanations)",
            runner=runners.run_lime,
            default_params=runners.lime_defaults,
            param_rules={
                "rows": _rows_error,
                "n_borderline": lambda v, _: _int_between(v, 0, 50),
                "per_group": lambda v, _: _int_between(v, 0, 20),
                "num_features": lambda v, _: _int_between(v, 1, 50),
                "seed": _seed,
            },
            engines=("lime", "skops"),
            automatic=True,
            needs_model_file=True,
            # Local explanations are aids to reading the model, not evidence.
            one_off_params=("rows",),
        ),
        KindSpec(
            key=REFERENCE,
            label="Drift reference",
            runner=runners.run_reference,
            engines=("scipy",),
            # What production windows are compared with (issue 15), not evidence.
            automatic=True,
            raw_data_files=(runners.REFERENCE_SAMPLES,),
        ),
    )
}


def choices() -> list[tuple[str, str]]:
    """(key, label) of every kind, in declaration order: the API's choices."""
    return [(key, kind.label) for key, kind in KINDS.items()]


def label(kind: str) -> str:
    """A kind's label; the key itself for a kind no longer declared."""
    return KINDS[kind].label if kind in KINDS else kind


def spec(kind: str) -> KindSpec:
    """The declaration of ``kind``; KeyError for an unknown kind."""
    return KINDS[kind]


def check_params(kind: str, params: dict[str, Any], version: ModelVersion) -> dict[str, str]:
    """Errors by param name; empty when every value is acceptable."""
    rules = KINDS[kind].param_rules
    errors = {name: rules[name](value, version) for name, value in params.items() if name in rules}
    return {name: error for name, error in errors.items() if error}


def engine_versions(kind: str) -> dict[str, str]:
    """Versions of the libraries a report kind's numbers depend on."""
    return {name: metadata.version(name) for name in (*BASE_ENGINES, *KINDS[kind].engines)}


def is_one_off(report: Report) -> bool:
    """A report asked for with one-off params (LIME rows), never its kind's latest."""
    return any(report.params.get(name) for name in KINDS[report.kind].one_off_params)


def report_is_current(report: Report) -> bool:
    """Computed with the params the model's current settings (fairness policy, KPIs) give."""
    names = KINDS[report.kind].current_params
    if not names:
        return True
    current = KINDS[report.kind].default_params(report.version)
    return all(report.params.get(name) == current[name] for name in names)


def evidence_kinds() -> tuple[str, ...]:
    """Kinds whose results a sign-off covers."""
    return tuple(key for key, kind in KINDS.items() if kind.is_evidence)


def required_kinds(*, policy_requires_explanations: bool) -> tuple[str, ...]:
    """Kinds the gates need a successful, current report of, in declaration order."""
    return tuple(
        key
        for key, kind in KINDS.items()
        if kind.required or (kind.policy_can_require and policy_requires_explanations)
    )
