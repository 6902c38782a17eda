"""Reports computed by real Celery worker processes on real brokers: Redis and the embedded
filesystem broker; a worker killed mid-report; a broker that is down while CI registers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.utils import timezone

from explain import services
from explain.models import Report, ReportStatus
from registry.models import AuditEvent, ModelVersion
from tests.builders import Candidate, client_for, post_version

from .conftest import (
    KILL_SAMPLES,
    STALE_SECONDS,
    assert_succeeded_once,
    completed_events,
    filesystem_broker,
    many_groups_candidate,
    publishing_to,
    slow_fairness,
    under_way,
    wait_for,
    watch,
)

pytestmark = pytest.mark.integration

ORDER = {ReportStatus.QUEUED: 0, ReportStatus.RUNNING: 1, ReportStatus.SUCCEEDED: 2}
# About three seconds of bootstrap on a 400-row set: long enough to be seen running.
SLOW_SAMPLES = 100_000


def assert_forward_only(history: list[tuple[str, int]]) -> None:
    """Statuses only move queued -> running -> succeeded, never back."""
    ranks = [ORDER[status] for status, _ in history]
    assert ranks == sorted(ranks), history


def run_the_automatic_flow(start_worker, broker_url: str, engineer, model, **options) -> None:
    with publishing_to(broker_url, options.get("transport_options")):
        start_worker(broker_url)
        version = Candidate().register(actor=engineer, model=model).version
        slow = services.report_request(
            actor=engineer,
            version=version,
            kind="fairness",
            params={"bootstrap_samples": SLOW_SAMPLES},
        ).report

        reports = list(Report.objects.filter(version=version))
        assert {r.kind for r in reports} == {"fairness", "kpi", "performance", "reference"}
        seen = watch([*reports, slow])

    for report in [*reports, slow]:
        assert_succeeded_once(report)
        assert_forward_only(seen[report.pk])
    # The slow one runs for seconds: the poller sees it running.
    assert ReportStatus.RUNNING in {status for status, _ in seen[slow.pk]}, seen[slow.pk]
    assert slow.result["bootstrap"]["samples"] == SLOW_SAMPLES
    by_kind = {r.kind: r for r in reports}
    assert by_kind["fairness"].result["rows"] == 400
    assert by_kind["performance"].result["overall"]["count"] == 400
    assert by_kind["kpi"].result["summary"]["total"] == 0
    assert by_kind["reference"].result["summary"]["rows"] == 400


def test_a_redis_worker_runs_the_reports_of_a_new_version(start_worker, redis_url, engineer, model):
    run_the_automatic_flow(start_worker, redis_url, engineer, model)


def test_an_embedded_broker_worker_runs_the_reports_of_a_new_version(start_worker, engineer, model):
    url, options = filesystem_broker(start_worker.data_dir)

    run_the_automatic_flow(start_worker, url, engineer, model, transport_options=options)

    queue = options["data_folder_in"]
    assert not list(Path(queue).iterdir())  # every message was consumed


def test_a_report_lost_with_a_killed_worker_is_retried_and_completed_once(
    start_worker, redis_url, engineer, model, settings
):
    settings.GATEHOUSE_REPORT_STALE_SECONDS = STALE_SECONDS
    with publishing_to(redis_url):
        first = start_worker(redis_url)
        version = many_groups_candidate().register(actor=engineer, model=model).version
        report = slow_fairness(engineer, version)

        # Kill it mid-bootstrap: running, with some progress written, far from done.
        under_way(report, progress=20)
        first.kill()

        report.refresh_from_db()
        assert report.status == ReportStatus.RUNNING  # the dead worker left it running
        assert report.attempts == 1
        assert completed_events(report) == []

        # Nobody beats for it any more: once its heartbeat is stale the sweep takes it back.
        def stale() -> bool:
            report.refresh_from_db()
            age = (timezone.now() - report.heartbeat_at).total_seconds()
            return age > STALE_SECONDS + 0.5

        wait_for(stale, timeout=STALE_SECONDS * 5, what="the heartbeat to go stale")
        swept = services.reports_sweep()
        assert swept["requeued"] == 1
        report.refresh_from_db()
        assert report.status == ReportStatus.QUEUED
        assert report.enqueued_at is not None

        start_worker(redis_url)
        watch([report])

    report = assert_succeeded_once(report, attempts=2)
    assert report.result["bootstrap"]["samples"] == KILL_SAMPLES
    assert set(report.result["attributes"]) == {"sex", "age_group", "region"}
    requeued = AuditEvent.objects.filter(action="report.requeued", object_id=str(report.pk))
    assert [e.payload for e in requeued] == [{"reason": "worker lost", "attempts": 1}]
    assert not AuditEvent.objects.filter(action="report.failed").exists()


def test_a_version_registered_while_the_broker_is_down_is_kept_and_reported_later(
    start_worker, redis_url, ci, model
):
    down = "redis://127.0.0.1:6390/0"  # nothing listens here
    with publishing_to(down):
        started = time.monotonic()
        response = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="b-1")
        elapsed = time.monotonic() - started

    assert response.status_code == 201, response.json()
    assert elapsed < 10, f"registration took {elapsed:.1f} s with the broker down"
    version = ModelVersion.objects.get(model=model, version="1.0.0")
    reports = list(Report.objects.filter(version=version))
    assert {r.kind for r in reports} == {"fairness", "kpi", "performance", "reference"}
    assert {(r.status, r.enqueued_at) for r in reports} == {(ReportStatus.QUEUED, None)}

    with publishing_to(redis_url):
        # The new worker sweeps on start and sends what never reached a broker.
        start_worker(redis_url)
        watch(reports)

    for report in reports:
        assert_succeeded_once(report)


def test_a_down_broker_delays_a_registration_once_not_once_per_report(transactional_db, ci, model):
    from tests.builders import skops_model_bytes

    candidate = Candidate(model_bytes=skops_model_bytes())
    with publishing_to("redis://127.0.0.1:6390/0"):
        started = time.monotonic()
        response = post_version(client_for(secret=ci[2]), model.name, candidate)
        elapsed = time.monotonic() - started

    assert response.status_code == 201, response.json()
    assert Report.objects.filter(enqueued_at__isnull=True).count() == 6
    # One connect timeout (CELERY_BROKER_CONNECTION_TIMEOUT = 2 s) and the upload itself.
    assert elapsed < 6, f"registration took {elapsed:.1f} s with the broker down"
