"""The drift reference (issue 15): a version's evaluation set binned once when it is registered,
stored as a ``reference`` report equal to ``engines.drift.reference_profile`` on the same data,
and shown on the version page as one row per column."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.urls import reverse

from explain import kinds, runners, services
from explain.engines import drift
from explain.models import Report, ReportStatus
from registry import evaluation
from registry.models import AuditEvent
from tests.builders import Candidate, evaluation_frame, web

# The candidate's columns in the reference's order: features, protected, score, prediction,
# label.
COLUMNS = ["income", "debt_ratio", "sex", "age_group", "score", "approved", "repaid"]


@pytest.fixture
def version(engineer, model, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return Candidate().register(actor=engineer, model=model).version


def run(version, kind: str = "reference") -> Report:
    report = Report.objects.get(version=version, kind=kind)
    ran = services.report_run(report_id=report.pk)
    assert ran is not None and ran.status == ReportStatus.SUCCEEDED, ran and ran.error
    return ran


def test_registering_a_version_queues_its_drift_reference(version, sent):
    report = Report.objects.get(version=version, kind="reference")

    assert report.status == ReportStatus.QUEUED
    assert report.pk in sent
    assert report.params == {}
    (queued,) = AuditEvent.objects.filter(action="report.queued", object_id=str(report.pk))
    assert queued.payload["kind"] == "reference"
    # Automatic, but neither evidence nor required by the gates.
    assert kinds.spec("reference").automatic
    assert "reference" not in kinds.evidence_kinds()
    assert "reference" not in kinds.required_kinds(policy_requires_explanations=True)


def test_the_reference_is_the_drift_profile_of_the_evaluation_data(version):
    report = run(version)

    expected = drift.reference_profile(evaluation_frame(), COLUMNS, bins=10)
    (samples,) = report.files.all()
    assert samples.name == runners.REFERENCE_SAMPLES
    with samples.file.open("rb") as fh:
        whole = runners.reference_with_samples(report.result, fh.read())
    assert {key: value for key, value in whole.items() if key != "summary"} == expected
    assert report.result["summary"] == {"rows": 400, "columns": 7}
    assert report.engine_versions.keys() == {"numpy", "pandas", "scikit-learn", "scipy"}
    # The result itself holds no raw values: a page reading it reads the bins and counts.
    assert all("sample" not in column for column in report.result["columns"].values())
    assert len(json.dumps(report.result)) < 600 * len(COLUMNS)
    # What the monitoring will compare a window with: the stored profile is a usable one.
    window = drift.drift_report(whole, frame=evaluation_frame(seed=1))
    assert window["columns"]["income"]["test"] == "ks"


def test_the_reference_reads_the_data_the_other_reports_parsed(version, monkeypatch):
    evaluation._PARSED.clear()
    parsed = []
    read_frame = evaluation.read_frame
    monkeypatch.setattr(
        evaluation, "read_frame", lambda fh, fmt: parsed.append(fmt) or read_frame(fh, fmt)
    )

    for kind in ("fairness", "performance", "kpi", "reference"):
        run(version, kind)

    assert parsed == ["csv"]


def test_a_parquet_evaluation_set_gives_the_same_reference(engineer, model, sent):
    candidate = Candidate()
    buffer = io.BytesIO()
    candidate.frame.to_parquet(buffer)
    version = services.version_register(
        actor=engineer,
        token=None,
        model=model,
        metadata=candidate.metadata(),
        evaluation_file=io.BytesIO(buffer.getvalue()),
        model_file=None,
        model_filename="",
        idempotency_key="",
    ).version
    assert version.evaluation_data.format == "parquet"

    report = run(version)

    (samples,) = report.files.all()
    with samples.file.open("rb") as fh:
        whole = runners.reference_with_samples(report.result, fh.read())
    assert (
        whole["columns"] == drift.reference_profile(evaluation_frame(), COLUMNS, bins=10)["columns"]
    )


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_version_page_shows_the_reference_column_by_column(version, engineer):
    url = reverse("version-detail", args=[version.model.name, version.version])
    before = web(engineer).get(url).content.decode()
    assert 'id="drift-reference"' not in before  # queued: nothing to show yet

    run(version)
    page = web(engineer).get(url).content.decode()

    assert 'id="drift-reference"' in page
    shown = text(page.split('id="drift-reference"')[1].split("</details>")[0])
    assert "Drift reference 7 columns of 400 rows" in shown
    # 400 rows: a small reference, so KS for numbers, z for two categories, chi-square for more.
    assert "income numeric Kolmogorov-Smirnov 10 bins 400 0" in shown
    assert "score numeric Kolmogorov-Smirnov 10 bins 400 0" in shown
    assert "sex categorical z-test 2 categories 400 0" in shown
    assert "age_group categorical chi-square 3 categories 400 0" in shown
    assert "repaid categorical z-test 2 categories 400 0" in shown
    # In the order of the columns' roles, whatever order the database keeps JSON keys in.
    assert [shown.index(f" {name} ") for name in COLUMNS] == sorted(
        shown.index(f" {name} ") for name in COLUMNS
    )


def test_outsiders_get_404_on_the_version_page(version, outsider):
    run(version)
    url = reverse("version-detail", args=[version.model.name, version.version])

    response = web(outsider).get(url)

    assert response.status_code == 404
    assert "Drift reference" not in response.content.decode()
