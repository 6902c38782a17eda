"""The report kind table: it agrees with the stored choices, and its rules (latest report,
currency, requirements) are the ones services and gates apply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from explain import kinds
from explain.models import FairnessPolicy, Report, ReportKind
from explain.selectors import latest_reports
from explain.services import params_hash
from tests.builders import Candidate


def test_report_kind_choices_and_the_kind_table_agree():
    assert list(kinds.KINDS) == list(ReportKind.values)
    assert [spec.label for spec in kinds.KINDS.values()] == list(ReportKind.labels)
    assert all(key == spec.key for key, spec in kinds.KINDS.items())


def test_the_table_says_what_counts_where():
    assert kinds.evidence_kinds() == ("fairness", "performance", "kpi", "shap")
    assert kinds.required_kinds(policy_requires_explanations=False) == (
        "fairness",
        "performance",
        "kpi",
    )
    assert kinds.required_kinds(policy_requires_explanations=True) == (
        "fairness",
        "performance",
        "kpi",
        "shap",
    )


@pytest.fixture
def version(engineer, model, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return Candidate().register(actor=engineer, model=model).version


def _copy(report: Report, **changes) -> Report:
    """Another report of the same kind, stored with ``changes`` (created_at forced)."""
    created_at = changes.pop("created_at", report.created_at)
    params = {**report.params, **changes.pop("params", {})}
    other = Report.objects.create(
        version=report.version, kind=report.kind, params=params, params_sha256=params_hash(params)
    )
    Report.objects.filter(pk=other.pk).update(created_at=created_at)
    return other


def test_the_latest_report_is_the_newest_then_the_highest_pk(version):
    first = Report.objects.get(version=version, kind="fairness")
    # Created in the same instant (a coarse clock): the later row wins, on every database.
    tie = _copy(first, params={"seed": 1})
    assert latest_reports(version)["fairness"].pk == tie.pk
    # A newer report wins even with a lower pk.
    Report.objects.filter(pk=first.pk).update(created_at=first.created_at + timedelta(seconds=1))
    assert latest_reports(version)["fairness"].pk == first.pk


def test_one_off_lime_rows_never_count_as_the_latest(version):
    performance = Report.objects.get(version=version, kind="performance")
    lime = Report.objects.create(
        version=version, kind="lime", params={"rows": [1, 2]}, params_sha256="rows"
    )
    assert kinds.is_one_off(lime) and not kinds.is_one_off(performance)
    assert "lime" not in latest_reports(version)


def test_a_report_is_current_until_the_model_s_fairness_policy_changes(version):
    fairness = Report.objects.get(version=version, kind="fairness")
    kpi = Report.objects.get(version=version, kind="kpi")
    performance = Report.objects.get(version=version, kind="performance")
    assert kinds.report_is_current(fairness) and kinds.report_is_current(kpi)

    FairnessPolicy.objects.create(model=version.model, disparate_impact_min=0.9)

    assert not kinds.report_is_current(fairness)
    assert not kinds.report_is_current(kpi)
    assert kinds.report_is_current(performance)
