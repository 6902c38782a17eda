"""The report kind table: it agrees with the stored choices, and its rules (latest report,
currency, requirements) are the ones services and gates apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from explain import kinds, runners, services
from explain.api.serializers import ReportRequestInput
from explain.models import FairnessPolicy, Report, ReportStatus
from explain.selectors import latest_reports
from explain.services import params_hash
from registry.errors import InvalidInput
from registry.evaluation import load_dataset_frame
from registry.models import AuditEvent
from tests.builders import Candidate


def test_the_api_offers_the_declared_kinds_and_nothing_else():
    assert all(key == spec.key for key, spec in kinds.KINDS.items())
    field = ReportRequestInput().fields["kind"]
    assert list(field.choices.items()) == kinds.choices()
    assert kinds.choices()[0] == ("fairness", "Fairness")


def _count_rows(version, params, progress) -> runners.RunOutput:
    progress(50, "counting")
    frame = load_dataset_frame(version.evaluation_data)
    return runners.RunOutput({"rows": len(frame), "at_least": params["at_least"]})


def test_a_new_kind_is_one_declaration_plus_its_runner(
    monkeypatch, version, engineer, client, django_capture_on_commit_callbacks
):
    """What adding a kind takes: this entry and its runner. No migration, no other list."""
    monkeypatch.setitem(
        kinds.KINDS,
        "row_count",
        kinds.KindSpec(
            key="row_count",
            label="Row count",
            runner=_count_rows,
            default_params=lambda _: {"at_least": 1},
            param_rules={"at_least": lambda v, _: None if isinstance(v, int) else "A number."},
        ),
    )
    assert ("row_count", "Row count") in kinds.choices()

    with pytest.raises(InvalidInput) as refused:
        services.report_request(
            actor=engineer, version=version, kind="row_count", params={"at_least": "x"}
        )
    assert refused.value.errors == {"params.at_least": ["A number."]}
    assert not Report.objects.filter(kind="row_count").exists()

    with django_capture_on_commit_callbacks(execute=False):
        request = services.report_request(actor=engineer, version=version, kind="row_count")
    report = services.report_run(report_id=request.report.pk)

    assert report is not None and report.status == ReportStatus.SUCCEEDED
    assert report.result == {"rows": version.evaluation_data.row_count, "at_least": 1}
    assert report.engine_versions.keys() == {"numpy", "pandas", "scikit-learn"}
    assert list(
        AuditEvent.objects.filter(object_id=str(report.pk)).values_list("action", flat=True)
    ) == ["report.queued", "report.completed"]
    # Not evidence, not required, not automatic: the gates and registration ignore it.
    assert "row_count" not in kinds.evidence_kinds()
    assert "row_count" not in kinds.required_kinds(policy_requires_explanations=True)

    client.force_login(engineer)
    page = client.get(
        reverse("version-detail", args=[version.model.name, version.version])
    ).content.decode()
    assert "Row count" in page

    # The stored key needs no new choice, so no migration.
    call_command("makemigrations", "explain", "--check", "--dry-run", verbosity=0)


def test_no_model_change_is_missing_a_migration(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


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
