"""Real Celery workers for the integration suite.

A worker is another process, so it must open the very database the test process uses and
see committed rows: the tests use ``transactional_db``. On PostgreSQL that is the test
database (``test_<name>``). On SQLite pytest-django would keep the test database in
memory, which no other process can open, so when integration tests are collected the test
database becomes a file in the run's temporary data folder (``TEST.NAME``), for the whole
session.

The test process publishes tasks too (the services enqueue on commit); ``publishing_to``
points its Celery app at the worker's broker and puts it back afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from kombu import pools as kombu_pools

from explain import services as explain_services
from explain.models import Report, ReportStatus
from gatehouse.celery import app as celery_app
from gatehouse.settings import broker_transport_options
from registry.models import AuditEvent
from tests.builders import Candidate, evaluation_frame

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = os.environ.get("GATEHOUSE_TEST_REDIS", "redis://127.0.0.1:6379")
# Spare Redis databases; each test session claims a free one, so two sessions on one machine
# never consume (and drop) each other's tasks or flush each other's queues.
SPARE_REDIS_DBS = range(9, 16)
REDIS_LOCK = "gatehouse-tests:owner"
# Short enough for the kill test to see a dead worker's heartbeat go stale quickly.
STALE_SECONDS = 4
DEADLINE = 90.0


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only when integration tests run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On SQLite, keep the test database in a file a worker process can open."""
    if not any(item.get_closest_marker("integration") for item in items):
        return
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(settings.DATA_DIR / "test-db.sqlite3")


# --- services ------------------------------------------------------------------------------


def unavailable(reason: str) -> None:
    """A missing service skips the test on a laptop, and fails it in CI, where it must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run the integration suite, not skip it")
    pytest.skip(reason)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def _redis_database() -> Iterator[str]:
    """Claim a spare Redis database for this session; skip when no Redis server runs."""
    if not _reachable(REDIS_SERVER):
        unavailable(f"Redis is not reachable at {REDIS_SERVER} (start it: make services)")
    import redis

    token = uuid.uuid4().hex
    for number in SPARE_REDIS_DBS:
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{number}")
        if client.set(REDIS_LOCK, token, nx=True, ex=3600):
            break
        client.close()
    else:
        unavailable(f"every spare Redis database ({SPARE_REDIS_DBS}) is claimed by another run")
    try:
        yield f"{REDIS_SERVER}/{number}"
    finally:
        if client.get(REDIS_LOCK) == token.encode():
            client.flushdb()
        client.close()


@pytest.fixture
def redis_url(_redis_database) -> str:
    """This session's Redis database, emptied of everything but the claim."""
    import redis

    client = redis.Redis.from_url(_redis_database)
    for key in client.scan_iter():
        if key != REDIS_LOCK.encode():
            client.delete(key)
    client.expire(REDIS_LOCK, 3600)
    client.close()
    return _redis_database


def filesystem_broker(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """The embedded broker's URL and transport options for a data folder, as settings make them."""
    return "filesystem://", broker_transport_options("filesystem://", data_dir)


def _reset_broker_connections() -> None:
    """Drop the pooled broker connections so the next publish connects with the new settings.

    kombu keeps its pools in global groups keyed by connection URL; ``pools.reset`` closes
    and forgets them all, else a URL used before would get back its closed pool.
    """
    kombu_pools.reset()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextmanager
def publishing_to(url: str, transport_options: dict[str, Any] | None = None) -> Iterator[None]:
    """Point the test process's Celery app at a broker, and back afterwards.

    Celery reads CELERY_BROKER_URL from the environment before its own configuration, so
    the variable is switched along with the setting.
    """
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved_url = celery_app.conf.broker_url
    saved_options = celery_app.conf.broker_transport_options
    _reset_broker_connections()
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = (
        transport_options
        if transport_options is not None
        else broker_transport_options(url, settings.DATA_DIR)
    )
    try:
        yield
    finally:
        _reset_broker_connections()
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        celery_app.conf.broker_url = saved_url
        celery_app.conf.broker_transport_options = saved_options


# --- the database a worker opens -----------------------------------------------------------


def database_url() -> str:
    """A DATABASE_URL for the test database this process is connected to."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if "memory" in name or not Path(name).is_absolute():
            pytest.fail(f"the SQLite test database {name!r} is not a file a worker can open")
        return f"sqlite:///{name}"
    if connection.vendor == "postgresql":
        user = quote(db["USER"] or "", safe="")
        password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
        host = db["HOST"] or "127.0.0.1"
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"
    pytest.skip(f"no worker set-up for the {connection.vendor} backend")


# --- workers -------------------------------------------------------------------------------


@dataclass
class Worker:
    """A Celery worker process (leader of its own process group) and its log."""

    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.tail()}")
            time.sleep(0.1)
        pytest.fail(f"the worker was not ready within {timeout:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as the OOM killer would."""
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM to the main process (a warm shutdown: the running task may finish), then
        SIGKILL whatever is left of the group."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)

    def pool_children(self) -> list[int]:
        """The pids of the worker's pool processes (children of its main process)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


@pytest.fixture
def start_worker(transactional_db, tmp_path, _media_root) -> Iterator[Callable[..., Worker]]:
    """Start workers on a broker against the test database; all are stopped at teardown,
    before ``transactional_db`` flushes the database."""
    started: list[Worker] = []
    data_dir = tmp_path / "worker-data"

    def start(broker_url: str, *, wait: bool = True, **settings_env: str) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gatehouse.settings",
            "DATABASE_URL": database_url(),
            "GATEHOUSE_DATA_DIR": str(data_dir),
            "GATEHOUSE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_BROKER_URL": broker_url,
            "GATEHOUSE_REPORT_STALE_SECONDS": str(STALE_SECONDS),
            "GATEHOUSE_BOOTSTRAP_SAMPLES": str(settings.GATEHOUSE_BOOTSTRAP_SAMPLES),
            "GATEHOUSE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **settings_env,
        }
        log = tmp_path / f"worker-{len(started) + 1}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gatehouse",
            "worker",
            "--concurrency=1",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=gatehouse-test-{uuid.uuid4().hex[:8]}@%h",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    start.data_dir = data_dir  # type: ignore[attr-defined]
    yield start
    for number, worker in enumerate(started, 1):
        worker.stop()
        # Captured, and shown by pytest only when the test failed.
        print(f"--- worker {number} (exit {worker.process.returncode}) ---\n{worker.tail()}")


@pytest.fixture(autouse=True)
def _migration_rows(migration_data) -> None:
    """Every test here commits, and the flush after it empties the data migration's rows:
    ``migration_data`` puts them back."""


def wait_for(
    condition: Callable[[], Any], *, timeout: float = DEADLINE, every: float = 0.1, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(every)


# --- reports on a worker -------------------------------------------------------------------

# With a twelve-valued protected column, several seconds: time to kill the worker mid-run.
KILL_SAMPLES = 60_000


def many_groups_candidate() -> Candidate:
    """A candidate with a third protected column of twelve regions: many bootstrap strata."""
    frame = evaluation_frame()
    rng = np.random.default_rng(3)
    frame["region"] = rng.choice([f"r{i:02d}" for i in range(12)], len(frame))
    protected = {
        "sex": {"privileged": ["male"]},
        "age_group": {"privileged": ["middle"]},
        "region": {"privileged": ["r00"]},
    }
    return Candidate(frame=frame, column_overrides={"protected": protected})


def slow_fairness(actor, version) -> Report:
    """Ask for a fairness report of KILL_SAMPLES bootstrap samples: seconds of work on a
    ``many_groups_candidate`` version, time for a drill to strike while it runs."""
    return explain_services.report_request(
        actor=actor,
        version=version,
        kind="fairness",
        params={"bootstrap_samples": KILL_SAMPLES},
    ).report


def under_way(report: Report, *, progress: int) -> None:
    """Wait until a worker runs ``report`` and has written more than ``progress`` percent."""
    wait_for(
        lambda: Report.objects.filter(
            pk=report.pk, status=ReportStatus.RUNNING, progress__gt=progress
        ).exists(),
        every=0.05,
        what="the slow report to be under way",
    )


def completed_events(report: Report) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="report.completed", object_type="explain.report", object_id=str(report.pk)
        )
    )


def watch(reports: list[Report]) -> dict[int, list[tuple[str, int]]]:
    """Poll the reports until all are done; return the (status, progress) each went through."""
    seen: dict[int, list[tuple[str, int]]] = {r.pk: [] for r in reports}

    def all_done() -> bool:
        rows = Report.objects.filter(pk__in=seen).values_list("pk", "status", "progress")
        for pk, status, progress in rows:
            if not seen[pk] or seen[pk][-1] != (status, progress):
                seen[pk].append((status, progress))
        return all(history[-1][0] in ("succeeded", "failed") for history in seen.values())

    wait_for(all_done, every=0.05, what="the reports to finish")
    return seen


def assert_succeeded_once(report: Report, *, attempts: int = 1) -> Report:
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.attempts == attempts
    assert report.progress == 100
    assert report.result is not None
    assert report.result_sha256 == explain_services.result_hash(report.result)
    assert report.started_at <= report.finished_at
    assert "numpy" in report.engine_versions
    (event,) = completed_events(report)
    assert event.payload["result_sha256"] == report.result_sha256
    return report
