"""Reliability drills with real services: the database drops the app's connections right after
a commit and in the middle of a report, a broker hangs (SIGSTOP) and restarts without
persistence, a worker dies between receiving a message and claiming its report, a report runs
into the worker's hard time limit, and the audit chain is verified while others append."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from explain import services
from explain.models import Report, ReportStatus
from registry.audit.chain import audit_verify
from registry.audit.record import audit_record
from registry.models import AuditEvent, ModelVersion
from registry.roles import Role
from tests.builders import Candidate, client_for, make_user, post_version

from .conftest import (
    KILL_SAMPLES,
    STALE_SECONDS,
    assert_succeeded_once,
    database_url,
    many_groups_candidate,
    publishing_to,
    slow_fairness,
    unavailable,
    under_way,
    wait_for,
    watch,
)

pytestmark = pytest.mark.integration

REPORT_QUEUE = django_settings.GATEHOUSE_REPORT_QUEUE


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL drill: terminating backends, concurrent snapshots")


def terminate_other_backends() -> int:
    """End every other connection to the test database, as a failover or a DBA would."""
    import psycopg

    with psycopg.connect(database_url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


# --- a Redis server of the test's own ------------------------------------------------------


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server without persistence that the test may stop, resume and restart."""

    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=10, what="redis-server to start")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Killed and started again: without persistence, every queued message is gone."""
        self.stop()
        self.start()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (the hung-broker drill starts its own)")
    server = RedisServer(spare_port(), tmp_path)
    server.start()
    yield server
    server.stop()


# --- 15: a registration whose connection is terminated right after its commit --------------


def test_a_version_whose_connection_drops_right_after_the_commit_keeps_its_files(
    transactional_db, redis_url, ci, model, monkeypatch
):
    needs_postgresql()
    from explain import queue

    publish = queue.report_publish

    def publish_then_lose_the_database(report_id):
        # The commit is done and the broker gets the message; then the database goes away
        # under the web process, before it records that the message was sent.
        publish(report_id)
        terminate_other_backends()

    monkeypatch.setattr(queue, "report_publish", publish_then_lose_the_database)
    with publishing_to(redis_url):
        response = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="drop-1")
        again = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="drop-1")

    assert response.status_code == 201, response.content
    assert again.status_code == 200
    version = ModelVersion.objects.get(model=model, version="1.0.0")
    data = version.evaluation_data
    assert Path(data.file.path).read_bytes() == Candidate().csv()
    assert AuditEvent.objects.filter(action="version.registered").count() == 1
    # The report whose send was not recorded is the sweep's; the others' were never tried.
    assert Report.objects.filter(version=version, status=ReportStatus.QUEUED).count() == 4


# --- 16: verifying the chain while others append -------------------------------------------


def test_the_chain_verifies_while_other_threads_append(transactional_db):
    needs_postgresql()
    from registry.audit import services as audit_services

    verifier = make_user("verifier", [Role.AUDITOR])
    stop = threading.Event()
    appended = []

    def append(number: int) -> None:
        from django.db import connection as own
        from django.db import transaction

        try:
            while not stop.is_set():
                with transaction.atomic():
                    audit_record(actor=None, action="report.queued", payload={"thread": number})
                appended.append(number)
        finally:
            own.close()

    writers = [threading.Thread(target=append, args=(n,)) for n in range(3)]
    for writer in writers:
        writer.start()
    try:
        wait_for(lambda: len(appended) > 50, timeout=30, what="the writers to get going")
        reports = [audit_verify() for _ in range(25)]
        recorded = [audit_services.audit_chain_verify(actor=verifier).report for _ in range(5)]
    finally:
        stop.set()
        for writer in writers:
            writer.join()

    broken = [r.first_break for r in [*reports, *recorded] if not r.ok]
    assert broken == []
    assert len({r.last_seq for r in reports}) > 1  # the chain grew while it was verified
    verified = AuditEvent.objects.filter(action="audit.verified")
    assert [e.payload["ok"] for e in verified] == [True] * 5
    assert audit_verify().ok


# --- 17, 18 and 20: a broker that hangs, then restarts without its messages -----------------


def test_a_hung_broker_and_a_broker_restart_lose_no_report(
    start_worker, own_redis, ci, model, settings
):
    settings.GATEHOUSE_REPORT_STALE_SECONDS = STALE_SECONDS
    with publishing_to(own_redis.url):
        own_redis.pause()
        # Should the publish hang for good, the broker wakes up after 30 s (gunicorn's timeout).
        watchdog = threading.Timer(30, own_redis.resume)
        watchdog.start()
        started = time.monotonic()
        response = post_version(client_for(secret=ci[2]), model.name, Candidate(), key="hung-1")
        elapsed = time.monotonic() - started
        watchdog.cancel()
        own_redis.resume()

        assert response.status_code == 201, response.content
        # One socket timeout (GATEHOUSE_BROKER_SOCKET_TIMEOUT, 5 s) and the upload.
        assert elapsed < 15, f"registration took {elapsed:.1f} s with the broker hung"
        reports = list(Report.objects.filter(version__model=model))
        assert {(r.status, r.enqueued_at) for r in reports} == {(ReportStatus.QUEUED, None)}

        # The broker is back: the sweep sends them, with no time limits of the web's own.
        assert services.reports_sweep()["sent"] == 4
        broker = own_redis.client()
        messages = [json.loads(m) for m in broker.lrange(REPORT_QUEUE, 0, -1)]
        assert len(messages) == 4
        assert {tuple(m["headers"]["timelimit"]) for m in messages} == {(None, None)}

        # No worker yet: a backlog that waited longer than any timer is not sent again.
        long_ago = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_RESEND_SECONDS + 1)
        Report.objects.filter(version__model=model).update(enqueued_at=long_ago)
        assert services.reports_sweep()["resent"] == 0
        assert broker.llen(REPORT_QUEUE) == 4

        # Restarted without persistence: the messages are gone, and the sweep sees it.
        own_redis.restart()
        assert own_redis.client().llen(REPORT_QUEUE) == 0
        assert services.reports_sweep() == {"requeued": 0, "resent": 4, "sent": 4, "given_up": 0}
        assert own_redis.client().llen(REPORT_QUEUE) == 4

        start_worker(own_redis.url)
        watch(reports)

    for report in reports:
        assert_succeeded_once(report)


# --- 18: a worker that dies between receiving a message and claiming its report ------------


def test_a_message_lost_with_its_worker_before_the_claim_is_sent_again_after_the_stale_time(
    start_worker, redis_url, engineer, model, settings
):
    settings.GATEHOUSE_REPORT_STALE_SECONDS = STALE_SECONDS
    with publishing_to(redis_url):
        worker = start_worker(redis_url)
        (child,) = worker.pool_children()
        os.kill(child, signal.SIGSTOP)  # it takes the message but never gets to claim it
        version = Candidate().register(actor=engineer, model=model).version
        reports = list(Report.objects.filter(version=version))
        received = wait_for(
            lambda: Report.objects.filter(version=version, delivered_at__isnull=False).first(),
            what="the worker to receive a message",
        )
        worker.kill()

        assert received.status == ReportStatus.QUEUED
        # The other two still wait in the broker; the received one is not lost yet.
        assert services.reports_sweep()["resent"] == 0

        wait_for(
            lambda: timezone.now() - received.delivered_at > timedelta(seconds=STALE_SECONDS),
            timeout=STALE_SECONDS * 3,
            what="the stale time to pass",
        )
        swept = services.reports_sweep()
        assert swept == {"requeued": 0, "resent": 1, "sent": 1, "given_up": 0}

        start_worker(redis_url)
        watch(reports)

    for report in reports:
        assert_succeeded_once(report)


# --- 19: the database drops a running report's connections ---------------------------------


def test_a_report_whose_database_connection_drops_is_given_back_and_finished_by_its_retry(
    start_worker, redis_url, engineer, model, settings
):
    needs_postgresql()
    with publishing_to(redis_url):
        start_worker(redis_url)
        version = many_groups_candidate().register(actor=engineer, model=model).version
        automatic = list(Report.objects.filter(version=version))
        watch(automatic)
        report = slow_fairness(engineer, version)
        under_way(report, progress=10)

        assert terminate_other_backends() >= 1
        connection.close()  # ours went too

        # No sweep runs here: the worker gives the claim back and its retry finishes it.
        watch([report])

    report = assert_succeeded_once(report, attempts=2)
    assert report.result["bootstrap"]["samples"] == KILL_SAMPLES
    assert not AuditEvent.objects.filter(action="report.requeued").exists()


# --- 20: the worker's hard time limit -------------------------------------------------------


def test_a_report_over_the_workers_hard_time_limit_fails_as_a_time_out(
    start_worker, redis_url, engineer, model
):
    with publishing_to(redis_url):
        # The worker's limits, not the web's (30 min): 2 s hard, no soft limit to catch first.
        start_worker(redis_url, GATEHOUSE_TASK_TIME_LIMIT="2", GATEHOUSE_TASK_SOFT_TIME_LIMIT="0")
        version = many_groups_candidate().register(actor=engineer, model=model).version
        report = slow_fairness(engineer, version)
        watch([*Report.objects.filter(version=version)])

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.error == "Time limit exceeded (2 s)."
    assert report.attempts == 1
    (failed,) = AuditEvent.objects.filter(action="report.failed", object_id=str(report.pk))
    assert failed.payload["error"] == "Time limit exceeded (2 s)."
    assert not AuditEvent.objects.filter(action="report.requeued").exists()
