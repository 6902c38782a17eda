"""Explain reports load only the model file that was registered: digest first, limits next."""

from __future__ import annotations

from explain import services
from explain.models import Report, ReportStatus
from registry.models import AuditEvent
from tests.builders import Candidate, skops_model_bytes


def _shap_report(engineer, model, sent, django_capture_on_commit_callbacks) -> Report:
    with django_capture_on_commit_callbacks(execute=True):
        version = (
            Candidate(model_bytes=skops_model_bytes()).register(actor=engineer, model=model).version
        )
    return Report.objects.get(version=version, kind="shap")


def test_a_swapped_model_file_fails_the_report_naming_the_file(
    engineer, model, sent, django_capture_on_commit_callbacks
):
    report = _shap_report(engineer, model, sent, django_capture_on_commit_callbacks)
    stored = report.version.model_file
    # Another valid skops model of the same shape, written over the stored file.
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = Candidate().frame
    other = LogisticRegression(C=0.01).fit(frame[["income", "debt_ratio"]], 1 - frame["repaid"])
    with open(stored.file.path, "wb") as fh:
        fh.write(dumps(other))

    services.report_run(report_id=report.pk)

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert stored.file.name in report.error
    assert "does not match its sha256" in report.error
    assert report.result in (None, {})
    failed = AuditEvent.objects.get(action="report.failed", object_id=str(report.pk))
    assert "does not match its sha256" in failed.payload["error"]


def test_a_model_over_the_memory_limit_fails_the_report_clearly(
    engineer, model, sent, django_capture_on_commit_callbacks, settings
):
    report = _shap_report(engineer, model, sent, django_capture_on_commit_callbacks)
    settings.GATEHOUSE_MODEL_MEMORY_MB = 150  # less than scikit-learn itself needs

    services.report_run(report_id=report.pk)

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert "needs more than 150 MB of memory" in report.error
    assert "GATEHOUSE_MODEL_MEMORY_MB" in report.error
