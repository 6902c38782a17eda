"""A version's fairness, performance and KPI reports count its data into strata once per worker
process, and each still gives exactly what its engine gives on the data alone."""

from __future__ import annotations

import pytest

from explain import runners
from explain.engines import fairness, performance
from explain.engines import kpis as kpis_module
from explain.engines.fairness import report as fairness_report_module
from explain.engines.kpis import computed_kpis
from registry.evaluation import load_dataset_frame
from tests.builders import Candidate


@pytest.fixture
def version(engineer, model, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return Candidate().register(actor=engineer, model=model).version


@pytest.fixture
def prepare_calls(monkeypatch) -> list[str]:
    """Each time the data is counted into strata ("prepare") or a performance report is
    computed from them ("performance"), from an empty cache."""
    runners._STRATA.clear()
    calls: list[str] = []

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return wrapper

    prepare = counted("prepare", fairness_report_module.prepare)
    monkeypatch.setattr(fairness_report_module, "prepare", prepare)
    monkeypatch.setattr(kpis_module, "prepare", prepare)
    monkeypatch.setattr(
        performance,
        "performance_report_from",
        counted("performance", performance.performance_report_from),
    )
    yield calls
    runners._STRATA.clear()


def _run(kind, version):
    return kind(version, _params(kind, version), lambda percent, stage: None).result


def _params(kind, version):
    defaults = {
        runners.run_fairness: runners.fairness_defaults,
        runners.run_performance: runners.no_params,
        runners.run_kpi: runners.kpi_defaults,
    }
    return defaults[kind](version)


def test_the_three_reports_count_the_data_once_and_equal_their_engines(
    version, prepare_calls
) -> None:
    fair = _run(runners.run_fairness, version)
    perf = _run(runners.run_performance, version)
    kpi = _run(runners.run_kpi, version)
    assert prepare_calls == ["prepare", "performance"]

    data = version.evaluation_data
    frame = load_dataset_frame(data)
    columns = runners._columns(version)
    params = runners.fairness_defaults(version)
    assert fair == fairness.fairness_report(
        frame,
        **columns,
        protected=data.protected,
        policy=params["policy"],
        bootstrap_samples=params["bootstrap_samples"],
        seed=params["seed"],
    )
    assert perf == performance.performance_report(frame, **columns, protected=data.protected)
    kpi_params = runners.kpi_defaults(version)
    computed = computed_kpis(
        frame, **columns, protected=data.protected, policy=kpi_params["policy"]
    )
    assert kpi == runners.measure_kpis(kpi_params["kpis"], computed, version.metrics)


def test_a_stored_result_does_not_share_the_cached_one(version, prepare_calls) -> None:
    first = _run(runners.run_performance, version)
    first["overall"]["accuracy"] = -1.0
    second = _run(runners.run_performance, version)
    assert second["overall"]["accuracy"] != -1.0
    assert prepare_calls == ["prepare", "performance"]


def test_altered_data_is_refused_even_when_its_strata_are_cached(version, prepare_calls) -> None:
    _run(runners.run_fairness, version)
    stored = version.evaluation_data.file
    with stored.open("rb") as fh:
        content = fh.read()
    with stored.open("wb") as fh:
        fh.write(content.replace(b"male", b"mele", 1))
    with pytest.raises(ValueError, match="does not match its sha256"):
        _run(runners.run_performance, version)
