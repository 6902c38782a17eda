"""What survives a crash or a lost message: a registration whose after-commit steps fail keeps
its version and files; a report's folder holds only the files its rows reference; the sweep
re-sends messages lost with a worker or by the broker, never a healthy backlog; a report
killed at the hard time limit fails as a time-out."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from explain import services
from explain.models import Report, ReportStatus
from registry.models import AuditEvent, ModelVersion
from tests.builders import Candidate, client_for, post_version, skops_model_bytes


def fail_after_commit(monkeypatch, error: BaseException) -> None:
    """One more step for new versions, after their reports, whose after-commit part fails
    (like an outbox on a blip)."""
    queue_reports = services.reports_for_new_version

    def with_failing_step(**kwargs):
        queue_reports(**kwargs)

        def step():
            raise error

        transaction.on_commit(step)

    monkeypatch.setattr(services, "reports_for_new_version", with_failing_step)


# --- after the commit -----------------------------------------------------------------------


# Real commits (on-commit callbacks run when the block exits). The flush afterwards empties
# what migrations made (role groups, the audit chain head): ``migration_data`` puts it back
# before and after. (``serialized_rollback`` did too, but failed on rows another test's
# restore had already put back.)
def after_commit(test):
    return pytest.mark.django_db(transaction=True)(pytest.mark.usefixtures("migration_data")(test))


@after_commit
def test_a_failing_step_after_the_commit_keeps_the_version_and_answers_201(
    ci, model, sent, monkeypatch
):
    fail_after_commit(monkeypatch, ConnectionError("outbox unreachable"))
    response = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="k-1")
    again = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="k-1")

    assert response.status_code == 201, response.content
    assert again.status_code == 200
    version = ModelVersion.objects.get(model=model, version="1.0.0")
    assert Path(version.evaluation_data.file.path).read_bytes() == Candidate().csv()
    assert len(sent) == 4  # the reports were sent before the failing step
    assert AuditEvent.objects.filter(action="version.registered").count() == 1


@after_commit
def test_a_shutdown_after_the_commit_leaves_the_files_of_the_stored_version(
    engineer, model, sent, monkeypatch
):
    fail_after_commit(monkeypatch, SystemExit(1))  # gunicorn's worker timeout
    with pytest.raises(SystemExit):
        Candidate(model_bytes=skops_model_bytes()).register(actor=engineer, model=model)

    version = ModelVersion.objects.get(model=model, version="1.0.0")
    assert Path(version.evaluation_data.file.path).read_bytes() == Candidate().csv()
    stored_model = Path(version.model_file.file.path).read_bytes()
    assert hashlib.sha256(stored_model).hexdigest() == version.model_file.sha256


@after_commit
def test_the_reports_are_queued_in_the_versions_transaction(engineer, model, sent, monkeypatch):
    """A failure while queueing the reports leaves no version, no report and no file."""
    queue_reports = services.reports_for_new_version

    def then_fail(**kwargs):
        queue_reports(**kwargs)
        assert Report.objects.filter(version=kwargs["version"]).count() == 4
        raise RuntimeError("queueing failed")

    monkeypatch.setattr(services, "reports_for_new_version", then_fail)
    with pytest.raises(RuntimeError, match="queueing failed"):
        Candidate().register(actor=engineer, model=model)

    assert not ModelVersion.objects.exists()
    assert not Report.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["version.registered", "report.queued"])
    assert sent == []
    folder = f"evaluation/{model.name}/1.0.0"
    assert not default_storage.exists(folder) or default_storage.listdir(folder) == ([], [])


# --- report files ---------------------------------------------------------------------------


@pytest.fixture
def shap_report(engineer, model, sent, django_capture_on_commit_callbacks) -> Report:
    with django_capture_on_commit_callbacks(execute=True):
        candidate = Candidate(model_bytes=skops_model_bytes())
        version = candidate.register(actor=engineer, model=model).version
    return Report.objects.get(version=version, kind="shap")


def folder_of(report: Report) -> set[str]:
    folder = f"reports/{report.pk}"
    if not default_storage.exists(folder):
        return set()
    return {f"{folder}/{name}" for name in default_storage.listdir(folder)[1]}


def plant_leftovers(report: Report) -> None:
    """What a worker killed while storing plots leaves: files no row refers to."""
    for name in ("0123456789abcdef-shap_importance.svg", "fedcba9876543210-shap_beeswarm.svg"):
        default_storage.save(f"reports/{report.pk}/{name}", ContentFile(b"<svg/>"))


def test_a_retried_report_keeps_only_the_files_its_rows_reference(shap_report):
    plant_leftovers(shap_report)

    ran = services.report_run(report_id=shap_report.pk)

    assert ran.status == ReportStatus.SUCCEEDED, ran.error
    referenced = {f.file.name for f in ran.files.all()}
    assert len(referenced) == 2
    assert folder_of(ran) == referenced
    for row in ran.files.all():
        assert row.file.name.startswith(f"reports/{ran.pk}/{row.sha256[:16]}-")


def test_a_failed_report_leaves_no_files(shap_report):
    plant_leftovers(shap_report)
    stored = shap_report.version.evaluation_data.file
    with open(stored.path, "ab") as fh:
        fh.write(b"tampered\n")

    ran = services.report_run(report_id=shap_report.pk)

    assert ran.status == ReportStatus.FAILED
    assert folder_of(ran) == set()


# --- the sweep and lost messages ------------------------------------------------------------


@pytest.fixture
def waiting(engineer, model, sent, django_capture_on_commit_callbacks) -> list[Report]:
    """Four reports handed to the broker long ago, oldest first, none delivered yet."""
    with django_capture_on_commit_callbacks(execute=True):
        version = Candidate().register(actor=engineer, model=model).version
    reports = list(Report.objects.filter(version=version).order_by("pk"))
    long_ago = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_RESEND_SECONDS + 10)
    for age, report in enumerate(reports):
        Report.objects.filter(pk=report.pk).update(enqueued_at=long_ago + timedelta(seconds=age))
    sent.clear()
    return reports


def test_a_healthy_backlog_is_not_sent_again_however_old(waiting, sent):
    sent.broker_holds = 4

    assert services.reports_sweep()["resent"] == 0
    assert sent == []


def test_messages_the_broker_lost_are_sent_again_oldest_first(waiting, sent):
    sent.broker_holds = 1  # a restart without persistence, then one new message

    swept = services.reports_sweep()

    assert swept == {"requeued": 0, "resent": 3, "sent": 3, "given_up": 0}
    assert sent == [waiting[0].pk, waiting[1].pk, waiting[2].pk]


def test_a_message_delivered_but_never_claimed_is_sent_again_after_the_stale_time(
    waiting, sent, settings
):
    sent.broker_holds = 0
    stale = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS + 1)
    services.report_delivered(report_id=waiting[0].pk)
    Report.objects.filter(pk=waiting[0].pk).update(delivered_at=stale)
    services.report_delivered(report_id=waiting[1].pk)  # just now: a worker is starting it
    services.report_delivered(report_id=waiting[3].pk)
    # A retry due later counts as delivered when it is due.
    services.report_delivered(report_id=waiting[2].pk, due=timezone.now() + timedelta(minutes=2))

    swept = services.reports_sweep()

    assert swept["resent"] == 1
    assert sent == [waiting[0].pk]
    assert Report.objects.get(pk=waiting[0].pk).delivered_at is None  # a fresh message


# --- time limits ----------------------------------------------------------------------------


def test_a_report_killed_at_the_hard_time_limit_fails_as_a_time_out(waiting):
    report = waiting[0]
    assert services._claim(report.pk)

    services.report_timed_out(report_id=report.pk, seconds=1800)

    report.refresh_from_db()
    assert (report.status, report.error) == (ReportStatus.FAILED, "Time limit exceeded (1800 s).")
    (event,) = AuditEvent.objects.filter(action="report.failed", object_id=str(report.pk))
    assert event.payload["error"] == "Time limit exceeded (1800 s)."
    # Too late for one that finished meanwhile: nothing changes.
    services.report_timed_out(report_id=waiting[1].pk, seconds=1800)
    assert Report.objects.get(pk=waiting[1].pk).status == ReportStatus.QUEUED


def test_the_sweep_has_a_queue_of_its_own_that_every_worker_consumes():
    from gatehouse.celery import app

    route = app.amqp.router.route
    assert route({}, "explain.tasks.sweep_reports")["queue"].name == settings.GATEHOUSE_SWEEP_QUEUE
    assert route({}, "explain.tasks.run_report")["queue"].name == settings.GATEHOUSE_REPORT_QUEUE
    # A worker started without -Q (as `manage.py serve` starts it) consumes every declared queue.
    assert {settings.GATEHOUSE_SWEEP_QUEUE, settings.GATEHOUSE_REPORT_QUEUE} <= set(app.amqp.queues)
