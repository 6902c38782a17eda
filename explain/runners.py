"""What each report kind computes: its default params and the computation itself.

Runners are plain functions of a version and params; ``explain.kinds`` declares which kind
uses which, and ``explain.services`` handles claiming, storing, auditing and retries around them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from registry.evaluation import load_dataset_frame
from registry.models import KPI, ModelVersion, RegisteredModel, kpi_met

from .engines import fairness  # its numeric modules load on first use
from .models import FairnessPolicy

if TYPE_CHECKING:
    import pandas as pd

    from .engines.fairness.report import Prepared

Progress = Callable[[int, str], None]


@dataclass
class RunOutput:
    """A runner's JSON result and the files (name -> (bytes, content type)) it made."""

    result: dict[str, Any]
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)


# Set by ``model_settings_read_once``: each model's settings already read in the block.
_READ: ContextVar[dict[tuple[str, int], Any] | None] = ContextVar("_READ", default=None)


@contextmanager
def model_settings_read_once() -> Iterator[None]:
    """Within the block, a model's fairness policy and KPI definitions are read from the
    database once, however many kinds' default params ask for them (a registration asks
    four times for three reports). Only for a block that does not change them."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def _read_once(key: tuple[str, int], read: Callable[[], Any]) -> Any:
    done = _READ.get()
    if done is None:
        return read()
    if key not in done:
        done[key] = read()
    return done[key]


def fairness_policy_of(model: RegisteredModel) -> dict[str, Any]:
    """The model's saved fairness policy, or the defaults."""

    def read() -> dict[str, Any]:
        policy = FairnessPolicy.objects.filter(model=model).first()
        return policy.engine_policy() if policy else fairness.FairnessPolicy().to_dict()

    return _read_once(("policy", model.pk), read)


def kpi_definitions(version: ModelVersion) -> list[dict[str, Any]]:
    """The model's KPIs as a KPI report takes them."""

    def read() -> list[dict[str, Any]]:
        kpis = KPI.objects.filter(objective__model_id=version.model_id).select_related("objective")
        return [
            {
                "id": kpi.pk,
                "objective": kpi.objective.title,
                "name": kpi.name,
                "metric_key": kpi.metric_key,
                "comparator": kpi.comparator,
                "target": kpi.target,
                "unit": kpi.unit,
                "blocking": kpi.blocking,
            }
            for kpi in kpis.order_by("objective_id", "id")
        ]

    return _read_once(("kpis", version.model_id), read)


def fairness_defaults(version: ModelVersion) -> dict[str, Any]:
    """A fairness report's params: the model's policy, bootstrap samples, seed."""
    return {
        "policy": fairness_policy_of(version.model),
        "bootstrap_samples": settings.GATEHOUSE_BOOTSTRAP_SAMPLES,
        "seed": 0,
    }


def no_params(version: ModelVersion) -> dict[str, Any]:
    """A kind that takes no params."""
    return {}


def kpi_defaults(version: ModelVersion) -> dict[str, Any]:
    """A KPI report's params: the model's KPI definitions and fairness policy."""
    return {"kpis": kpi_definitions(version), "policy": fairness_policy_of(version.model)}


def shap_defaults(version: ModelVersion) -> dict[str, Any]:
    """A SHAP report's params: the row cap, background size, seed and proxy threshold."""
    return {
        "max_rows": settings.GATEHOUSE_SHAP_MAX_ROWS,
        "background_rows": 100,
        "seed": 0,
        "proxy_threshold": 0.3,
    }


def lime_defaults(version: ModelVersion) -> dict[str, Any]:
    """A LIME report's params: borderline rows and rows per group unless rows are named."""
    return {"rows": None, "n_borderline": 5, "per_group": 2, "num_features": 8, "seed": 0}


def _columns(version: ModelVersion) -> dict[str, Any]:
    data = version.evaluation_data
    return {
        "label": data.label_column,
        "prediction": data.prediction_column,
        "favorable_label": data.favorable_label,
        "score": data.score_column or None,
    }


def _frame(version: ModelVersion) -> pd.DataFrame:
    """The version's evaluation data, its digest checked on every read; parsed once per worker
    process for a version's reports (``registry.evaluation.load_dataset_frame``), and counted
    once into strata for its fairness, performance and KPI reports (``_strata``)."""
    return load_dataset_frame(version.evaluation_data)


@dataclass
class _Strata:
    """A version's evaluation data reduced once to the fairness engine's strata, shared by its
    fairness, performance and KPI reports; and its performance report once computed, which the
    KPI report reads."""

    prepared: Prepared
    performance: dict[str, Any] | None = None


# One entry: the strata of the data set a worker process computed last (a version's reports
# run one after another), keyed by its verified digest and the column roles.
_STRATA: dict[str, _Strata] = {}
# Strata above this estimate (8 bytes per row for each protected attribute, the label, the
# prediction and the score) are computed for each report and not kept.
MAX_CACHED_STRATA_BYTES = 64 * 1024 * 1024


def _strata(version: ModelVersion) -> _Strata:
    """The version's strata: the data is read (its digest checked, as on every read) and, when
    this process already counted the same data with the same columns, not counted again."""
    from .engines.fairness.report import prepare

    data = version.evaluation_data
    frame = _frame(version)  # raises unless the stored file matches data.sha256
    columns = _columns(version)
    key = json.dumps([data.sha256, columns, data.protected], sort_keys=True, default=str)
    cached = _STRATA.get(key)
    if cached is not None:
        return cached
    strata = _Strata(prepare(frame, **columns, protected=data.protected))
    _STRATA.clear()
    if len(frame) * 8 * (len(data.protected) + 3) <= MAX_CACHED_STRATA_BYTES:
        _STRATA[key] = strata
    return strata


def run_fairness(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """AIF360-defined group fairness with bootstrap intervals and verdicts."""
    from .engines.fairness.report import fairness_report_from

    policy = fairness.FairnessPolicy.from_dict(params["policy"])
    samples = params["bootstrap_samples"]
    if isinstance(samples, bool) or samples < 0:
        raise ValueError("bootstrap_samples must be a non-negative integer")
    progress(0, "validating input")
    result = fairness_report_from(
        _strata(version).prepared,
        favorable_label=version.evaluation_data.favorable_label,
        policy=policy,
        bootstrap_samples=samples,
        seed=params["seed"],
        progress=progress,
    )
    return RunOutput(result)


def _performance_of(strata: _Strata, favorable_label: Any) -> dict[str, Any]:
    """The performance report of ``strata``, computed once and then read from them."""
    from .engines import performance

    if strata.performance is None:
        strata.performance = performance.performance_report_from(
            strata.prepared, favorable_label=favorable_label
        )
    return strata.performance


def run_performance(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Accuracy, precision, recall, F1 and ROC AUC, overall and per group."""
    progress(10, "computing metrics")
    result = _performance_of(_strata(version), version.evaluation_data.favorable_label)
    # A copy: the stored result must not share the cached one.
    return RunOutput(copy.deepcopy(result))


def measure_kpis(
    kpis: list[dict[str, Any]], computed: dict[str, float], reported: dict[str, Any]
) -> dict[str, Any]:
    """Each KPI against its target; keys nothing provides are missing, never met."""
    rows = []
    for kpi in kpis:
        key = kpi["metric_key"]
        if key in computed:
            value, source = computed[key], "computed"
        elif isinstance(reported.get(key), int | float) and not isinstance(reported.get(key), bool):
            value, source = float(reported[key]), "reported by CI"
        else:
            value, source = None, None
        if value is None:
            status = "missing"
        else:
            met = kpi_met(kpi["comparator"], kpi["target"], value)
            status = "met" if met else "not_met"
        rows.append({**kpi, "value": value, "source": source, "status": status})
    blocking = [row for row in rows if row["blocking"]]
    return {
        "kpis": rows,
        "summary": {
            "total": len(rows),
            "met": sum(row["status"] == "met" for row in rows),
            "not_met": sum(row["status"] == "not_met" for row in rows),
            "missing": sum(row["status"] == "missing" for row in rows),
            "blocking_all_met": all(row["status"] == "met" for row in blocking),
            "blocking_failing": [row["metric_key"] for row in blocking if row["status"] != "met"],
        },
    }


def run_kpi(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Measure the model's KPIs: computed metrics first, then what CI reported."""
    from .engines import kpis

    progress(20, "computing metrics")
    strata = _strata(version)
    favorable = version.evaluation_data.favorable_label
    computed = kpis.kpis_from(
        strata.prepared,
        favorable_label=favorable,
        policy=fairness.FairnessPolicy.from_dict(params["policy"]),
        performance_result=_performance_of(strata, favorable),
    )
    return RunOutput(measure_kpis(params["kpis"], computed, version.metrics))


# Numeric columns of the drift reference are cut into this many quantile bins.
REFERENCE_BINS = 10


def reference_columns(version: ModelVersion) -> list[str]:
    """The columns a production window is compared on: the features, the protected columns,
    the score, the prediction and the label (for label drift once labels arrive)."""
    data = version.evaluation_data
    roles = [
        *data.feature_columns,
        *data.protected,
        data.score_column,
        data.prediction_column,
        data.label_column,
    ]
    return list(dict.fromkeys(column for column in roles if column))


# The numeric columns' raw samples, kept as a file of the report beside its result.
REFERENCE_SAMPLES = "reference-samples.json"


def run_reference(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """The drift reference: the evaluation set binned once (``engines.drift``'s profile, its
    quantile bins and categories), so production windows are compared on the same bins.

    The numeric columns' samples (up to 5,000 values each, for the tests on raw values) go to
    the file ``REFERENCE_SAMPLES``, not the result: pages and the API read results, and a
    result stays a few hundred bytes per column however many rows the data has.
    ``reference_with_samples`` puts them back."""
    from .engines import drift

    progress(10, "binning the evaluation data")
    frame = _frame(version)
    profile = drift.reference_profile(frame, reference_columns(version), bins=REFERENCE_BINS)
    samples = {
        name: column.pop("sample")
        for name, column in profile["columns"].items()
        if "sample" in column
    }
    summary = {"rows": len(frame), "columns": len(profile["columns"])}
    content = json.dumps(samples, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return RunOutput(
        {**profile, "summary": summary},
        files={REFERENCE_SAMPLES: (content.encode(), "application/json")},
    )


def reference_with_samples(result: dict[str, Any], samples: bytes) -> dict[str, Any]:
    """The whole ``engines.drift`` profile from a reference report's result and its
    ``REFERENCE_SAMPLES`` file."""
    values = json.loads(samples)
    columns = {
        name: {**column, "sample": values[name]} if name in values else column
        for name, column in result["columns"].items()
    }
    return {**result, "columns": columns}


def _explain_inputs(
    version: ModelVersion,
) -> tuple[Any, pd.DataFrame, dict[str, pd.Series], dict[str, Any], Any]:
    """The safely loaded model, its feature frame and the protected columns."""
    from registry.model_files import load_model_limited

    data = version.evaluation_data
    frame = _frame(version)
    stored = version.model_file
    with stored.file.open("rb") as fh:
        content = fh.read()
    # Check and load the very bytes that were hashed, so a swapped file cannot slip in.
    digest = hashlib.sha256(content).hexdigest()
    if digest != stored.sha256:
        raise ValueError(
            f"The stored model file {stored.file.name} of {version} does not match its sha256 "
            f"({digest} != {stored.sha256}); refusing to explain an altered model."
        )
    model = load_model_limited(content)
    protected = {column: frame[column] for column in data.protected}
    privileged = {column: spec["privileged"] for column, spec in data.protected.items()}
    if not data.feature_columns:
        raise ValueError("The version declares no feature columns to explain.")
    return model, frame[data.feature_columns], protected, privileged, data.favorable_label


def _fraction_progress(progress: Progress, start: int, end: int) -> Callable[[float, str], None]:
    return lambda fraction, stage: progress(int(start + (end - start) * fraction), stage)


def run_shap(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Global SHAP importance, per group, proxy warnings, and two SVG plots."""
    from .engines import explainability

    progress(2, "loading model")
    model, X, protected, privileged, favorable = _explain_inputs(version)
    output = explainability.shap_report(
        model,
        X,
        protected=protected,
        privileged=privileged,
        positive_class=favorable,
        max_rows=params["max_rows"],
        background_rows=params["background_rows"],
        seed=params["seed"],
        proxy_threshold=params["proxy_threshold"],
        progress=_fraction_progress(progress, 5, 90),
    )
    progress(92, "drawing plots")
    files = {
        name: (svg, "image/svg+xml") for name, svg in explainability.shap_plots(output).items()
    }
    return RunOutput(output.result, files)


def run_lime(version: ModelVersion, params: dict[str, Any], progress: Progress) -> RunOutput:
    """Local LIME explanations for borderline rows and rows per group, or the rows asked for."""
    from .engines import explainability

    progress(2, "loading model")
    model, X, protected, privileged, favorable = _explain_inputs(version)
    # Row ids were checked against the data when the report was requested (check_params).
    result = explainability.lime_report(
        model,
        X,
        protected=protected,
        privileged=privileged,
        positive_class=favorable,
        rows=params.get("rows"),
        n_borderline=params["n_borderline"],
        per_group=params["per_group"],
        num_features=params["num_features"],
        seed=params["seed"],
        progress=_fraction_progress(progress, 5, 99),
    )
    _with_row_facts(result, version, X)
    if params.get("rows") is None:
        result["suggested_rows"] = _suggested_rows(version, {r["row"] for r in result["rows"]})
    return RunOutput(result)


# Rows offered per list for "explain this row", and groups listed per protected column.
SUGGESTED_PER_LIST = 3
SUGGESTED_GROUPS = 10


def _suggested_rows(version: ModelVersion, explained: set[int]) -> list[dict[str, Any]]:
    """Rows a reviewer may want explained next, not among those explained already: declined
    though the label was favourable, and declined in each protected group (the first few of
    each, in row order, so the lists are the same for the same data)."""
    import numpy as np

    data = version.evaluation_data
    frame = _frame(version)
    favorable = data.favorable_label
    declined = frame[data.prediction_column] != favorable
    wrongly = declined & (frame[data.label_column] == favorable)
    lists = [("declined, label favourable", wrongly)]
    for column in data.protected:
        for value in frame[column].dropna().unique()[:SUGGESTED_GROUPS]:
            group = declined & (frame[column] == value)
            lists.append((f"declined, {column} = {_plain(value)}", group))
    suggestions = []
    for reason, mask in lists:
        rows = [int(r) for r in np.flatnonzero(mask.to_numpy()) if int(r) not in explained]
        suggestions += [{"row": r, "reason": reason} for r in rows[:SUGGESTED_PER_LIST]]
    return suggestions


def _plain(value: Any) -> Any:
    """A cell as JSON has it (numpy scalars as Python numbers, NaN as None)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _with_row_facts(result: dict[str, Any], version: ModelVersion, X: pd.DataFrame) -> None:
    """Beside each explained row, what a reviewer weighs it against: its feature values, the
    recorded label and the model's recorded decision (from the evaluation data)."""
    data = version.evaluation_data
    frame = _frame(version)
    for row in result.get("rows", []):
        at = row["row"]
        row["feature_values"] = {feature: _plain(X.iloc[at][feature]) for feature in X.columns}
        row["label"] = _plain(frame[data.label_column].iloc[at])
        row["decision"] = _plain(frame[data.prediction_column].iloc[at])
    result["favorable_label"] = _plain(data.favorable_label)
