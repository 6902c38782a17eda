"""Report verbs: request, run (claimed atomically), and sweep what was lost; and version
registration, which queues the new version's reports."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Q, QuerySet, When
from django.utils import timezone

from registry import services as registry_services
from registry.audit.chain import canonical_json
from registry.audit.record import audit_event, audit_record
from registry.errors import InvalidInput
from registry.models import ApiToken, AuditEvent, ModelVersion
from registry.permissions import require
from registry.types import Actor

from . import kinds, queue, runners
from .models import Report, ReportFile, ReportStatus
from .permissions import can_request_reports

log = logging.getLogger(__name__)

# Errors worth a retry: the database was briefly unavailable or locked.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
# Tries to give a claim back after a database error before leaving it to the sweep.
GIVE_BACK_ATTEMPTS = 4


def params_hash(params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a report's params."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def result_hash(result: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a report's result."""
    return hashlib.sha256(canonical_json(result).encode()).hexdigest()


def _send_all(report_ids: list[int]) -> int:
    """Hand the reports' tasks to the broker in order, then record when, in one update; stop
    at the first failure (the broker is down: the sweep sends the rest), so a registration
    waits for one connection timeout, not one per report."""
    sending = timezone.now()
    sent: list[int] = []
    for report_id in report_ids:
        try:
            queue.report_publish(report_id)
        except Exception:
            log.warning(
                "Broker unavailable; report %s stays queued for the sweep", report_id, exc_info=True
            )
            break
        sent.append(report_id)
    if sent:
        # A delivery of an earlier message says nothing about these.
        Report.objects.filter(pk__in=sent).update(
            enqueued_at=sending,
            delivered_at=Case(When(delivered_at__lt=sending, then=None), default=F("delivered_at")),
        )
    return len(sent)


def _enqueue_on_commit(report_ids: list[int]) -> None:
    if report_ids:
        # Robust: the commit already made the reports durable; a failure to send them (the
        # broker, or the database when recording enqueued_at) is logged and left to the sweep.
        transaction.on_commit(lambda: _send_all(report_ids), robust=True)


@dataclass(frozen=True)
class ReportRequest:
    """The report asked for, and whether this call created it."""

    report: Report
    created: bool


def _report_params(version: ModelVersion, kind: str, params: dict[str, Any] | None) -> dict:
    """``params`` merged over the kind's defaults, checked; InvalidInput names what is wrong."""
    if kind not in kinds.KINDS:
        raise InvalidInput.for_field("kind", f"Unknown report kind {kind!r}.")
    spec = kinds.spec(kind)
    if spec.needs_model_file and not hasattr(version, "model_file"):
        raise InvalidInput.for_field("kind", "This version has no model file to explain.")
    defaults = spec.default_params(version)
    unknown = set(params or {}) - set(defaults)
    if unknown:
        raise InvalidInput.for_field(
            "params", f"Unknown params for {kind}: {', '.join(sorted(unknown))}."
        )
    merged = {**defaults, **(params or {})}
    errors = kinds.check_params(kind, merged, version)
    if errors:
        raise InvalidInput(
            "Invalid report params.", errors={f"params.{k}": [v] for k, v in errors.items()}
        )
    return merged


def report_request(
    *,
    actor: Actor,
    version: ModelVersion,
    kind: str,
    params: dict[str, Any] | None = None,
    token: ApiToken | None = None,
    check: bool = True,
    enqueue: bool = True,
) -> ReportRequest:
    """Queue a report of ``kind`` with ``params`` (merged over the defaults); asking again for
    the same version, kind and params returns the existing report."""
    if check:
        require(
            can_request_reports(actor, version, token), "You may not run reports for this model."
        )
    merged = _report_params(version, kind, params)
    digest = params_hash(merged)
    with transaction.atomic():
        report, created = Report.objects.get_or_create(
            version=version,
            kind=kind,
            params_sha256=digest,
            defaults={
                "params": merged,
                "requested_by": actor if actor and actor.is_authenticated else None,
            },
        )
        if created:
            audit_record(
                actor=actor,
                action="report.queued",
                obj=report,
                model_name=version.model.name,
                payload={"version": version.version, "kind": kind, "params_sha256": digest},
            )
            if enqueue:
                _enqueue_on_commit([report.pk])
    return ReportRequest(report, created)


def reports_for_new_version(*, version: ModelVersion, actor: Actor) -> list[AuditEvent]:
    """Queue the automatic reports of a newly registered version, in its transaction (one
    insert), and return their ``report.queued`` events for the registration to record."""
    has_model_file = hasattr(version, "model_file")
    requested_by = actor if actor and actor.is_authenticated else None
    reports = []
    # The kinds' defaults share the model's policy and KPIs: one read of each for all.
    with runners.model_settings_read_once():
        for key, spec in kinds.KINDS.items():
            if spec.automatic and (has_model_file or not spec.needs_model_file):
                merged = _report_params(version, key, None)
                reports.append(
                    Report(
                        version=version,
                        kind=key,
                        params=merged,
                        params_sha256=params_hash(merged),
                        requested_by=requested_by,
                    )
                )
    # A new version has no reports yet, so none of these can already exist.
    Report.objects.bulk_create(reports)
    _enqueue_on_commit([report.pk for report in reports])
    return [
        audit_event(
            actor=actor,
            action="report.queued",
            obj=report,
            model_name=version.model.name,
            payload={
                "version": version.version,
                "kind": report.kind,
                "params_sha256": report.params_sha256,
            },
        )
        for report in reports
    ]


def version_register(**registration: Any) -> registry_services.Registration:
    """Register a version (``registry.services.version_register``, same arguments) and queue its
    automatic reports in the same transaction; they are sent to the broker after the commit,
    and a failure to send them leaves them to the sweep (the registration still succeeds)."""
    return registry_services.version_register(**registration, after_create=reports_for_new_version)


class _ProgressWriter:
    """Writes progress and a heartbeat, at most every half second, and only while we own it."""

    def __init__(self, report_id: int) -> None:
        self.report_id = report_id
        self.last = 0.0

    def __call__(self, percent: int, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and percent < 100:
            return
        self.last = now
        Report.objects.filter(pk=self.report_id, status=ReportStatus.RUNNING).update(
            progress=max(0, min(99, int(percent))),
            progress_message=message[:200],
            heartbeat_at=timezone.now(),
        )


class _Heartbeat:
    """Beats for a running report from a side thread, so long steps do not look dead."""

    def __init__(self, report_id: int) -> None:
        self.report_id = report_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval = max(1.0, settings.GATEHOUSE_REPORT_STALE_SECONDS / 4)
        try:
            while not self.stop.wait(interval):
                try:
                    Report.objects.filter(pk=self.report_id, status=ReportStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except TRANSIENT_ERRORS:
                    # A dropped connection must not silence the beat for the rest of the
                    # run: drop it, and the next beat opens a new one.
                    log.warning("Heartbeat of report %s failed; reconnecting", self.report_id)
                    connection.close()
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _claim(report_id: int) -> bool:
    """Take the report for this worker: queued, or running with a dead worker's heartbeat."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS)
    claimable = Q(status=ReportStatus.QUEUED) | Q(
        status=ReportStatus.RUNNING, heartbeat_at__lt=stale
    )
    return bool(
        Report.objects.filter(claimable, pk=report_id).update(
            status=ReportStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            progress=0,
            progress_message="starting",
            error="",
        )
    )


def _reconnect() -> None:
    """Drop this thread's connection after a database error; the next query opens a new one."""
    if not connection.in_atomic_block:
        connection.close()


def _give_back(report_id: int) -> None:
    """Return the claim after a transient database error, so the retry can take it again.

    The failed connection is dropped first (giving the claim back over it would fail too) and
    the update is tried a few times; if the database stays away, the sweep takes the report
    back once its heartbeat is stale."""
    for attempt in range(GIVE_BACK_ATTEMPTS):
        _reconnect()
        try:
            Report.objects.filter(pk=report_id, status=ReportStatus.RUNNING).update(
                status=ReportStatus.QUEUED,
                heartbeat_at=None,
                # The retry's message is being sent; it is lost only if it then goes missing.
                enqueued_at=timezone.now(),
                delivered_at=None,
                progress_message="re-queued: database error",
            )
            return
        except TRANSIENT_ERRORS:
            time.sleep(0.5 * 2**attempt)
    log.error("Could not give report %s back; the sweep will once it looks stale", report_id)


def _report_folder(report_id: int) -> str:
    return f"reports/{report_id}"


def _prune_files(report_id: int) -> None:
    """Delete files in the report's folder that no ReportFile row references: what a worker
    that died while storing left behind. Runs under the report's row lock, so it never races
    a worker that is storing."""
    folder = _report_folder(report_id)
    with transaction.atomic():
        list(Report.objects.select_for_update().filter(pk=report_id).values_list("pk"))
        kept = set(ReportFile.objects.filter(report_id=report_id).values_list("file", flat=True))
        try:
            _, names = default_storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in names:
            path = f"{folder}/{name}"
            if path not in kept:
                default_storage.delete(path)


def _store_files(report: Report, files: dict[str, tuple[bytes, str]]) -> None:
    """Store the report's files at paths fixed by report and content, overwriting a leftover."""
    for name, (content, content_type) in files.items():
        digest = hashlib.sha256(content).hexdigest()
        path = f"{_report_folder(report.pk)}/{digest[:16]}-{name}"
        if default_storage.exists(path):
            default_storage.delete(path)
        path = default_storage.save(path, ContentFile(content))
        ReportFile.objects.update_or_create(
            report=report,
            name=name,
            defaults={"file": path, "content_type": content_type, "sha256": digest},
        )


def _time_limit_message(seconds: float | None) -> str:
    return f"Time limit exceeded ({seconds:g} s)." if seconds else "Time limit exceeded."


def _mark_failed(
    report: Report, message: str, payload: dict[str, Any], *, now: datetime | None = None
) -> bool:
    """Fail a running report with ``message`` and record ``report.failed`` with ``payload``, in
    the caller's transaction; False, and nothing recorded, once it is not running."""
    if not Report.objects.filter(pk=report.pk, status=ReportStatus.RUNNING).update(
        status=ReportStatus.FAILED,
        error=message[:5000],
        finished_at=now or timezone.now(),
        progress=100,
    ):
        return False
    audit_record(
        actor=None,
        action="report.failed",
        obj=report,
        model_name=report.version.model.name,
        payload=payload,
    )
    return True


def _fail(report: Report, message: str) -> None:
    """Fail a running report with ``message``, record it and clear files no row references; a
    no-op once it is not running."""
    with transaction.atomic():
        _mark_failed(
            report,
            message,
            {"version": report.version.version, "kind": report.kind, "error": message[:500]},
        )
    _prune_files(report.pk)


def _store_result(report: Report, output: runners.RunOutput) -> Report:
    """Store a computed result and its files, if the report is still ours to finish."""
    digest = result_hash(output.result)
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if locked.status != ReportStatus.RUNNING:
            return locked  # swept and finished elsewhere meanwhile: keep the first result
        # Files an earlier attempt stored before its worker died are nobody's: clear them.
        _prune_files(report.pk)
        _store_files(locked, output.files)
        Report.objects.filter(pk=report.pk).update(
            status=ReportStatus.SUCCEEDED,
            result=output.result,
            result_sha256=digest,
            engine_versions=kinds.engine_versions(report.kind),
            progress=100,
            progress_message="done",
            finished_at=timezone.now(),
        )
        audit_record(
            actor=None,
            action="report.completed",
            obj=report,
            model_name=report.version.model.name,
            payload={
                "version": report.version.version,
                "kind": report.kind,
                "result_sha256": digest,
                "files": {f.name: f.sha256 for f in locked.files.all()},
            },
        )
    return Report.objects.get(pk=report.pk)


def report_run(*, report_id: int) -> Report | None:
    """Compute a claimed report and store its result; a second delivery does nothing."""
    if not _claim(report_id):
        return None
    report = Report.objects.select_related("version__model", "version__evaluation_data").get(
        pk=report_id
    )
    try:
        with _Heartbeat(report_id):
            output = kinds.spec(report.kind).runner(
                report.version, report.params, _ProgressWriter(report_id)
            )
        return _store_result(report, output)
    except TRANSIENT_ERRORS:
        # Files stored by a store that then rolled back are cleared by the next attempt.
        _give_back(report_id)
        raise
    except (SoftTimeLimitExceeded, Exception) as exc:
        message = (
            _time_limit_message(settings.CELERY_TASK_SOFT_TIME_LIMIT)
            if isinstance(exc, SoftTimeLimitExceeded)
            else f"{type(exc).__name__}: {exc}"
        )
        log.error("Report %s failed:\n%s", report_id, traceback.format_exc())
        _fail(report, message)
        return Report.objects.get(pk=report_id)


def report_timed_out(*, report_id: int, seconds: float | None) -> None:
    """Fail a report its worker killed at the hard time limit (called in the worker's parent,
    which outlives the killed child), instead of leaving it to be retried as a lost worker."""
    report = Report.objects.select_related("version__model").filter(pk=report_id).first()
    if report is not None:
        _fail(report, _time_limit_message(seconds))


def report_delivered(*, report_id: int, due: datetime | None = None) -> None:
    """Note that a worker received the report's message; ``due`` is when a retry may run."""
    now = timezone.now()
    Report.objects.filter(pk=report_id, status=ReportStatus.QUEUED).update(
        delivered_at=max(now, due) if due else now
    )


def _lost_in_broker(waiting: QuerySet[Report], stale: datetime) -> list[int]:
    """Queued reports whose message the broker no longer holds (a restart without persistence).

    Each report handed to the broker and not yet delivered has one message in the queue, so
    fewer messages than such reports means the difference was lost; the oldest are the lost
    ones (a broker loses what it held; what was sent since is there). A healthy backlog has
    as many messages as reports and is left alone, however old."""
    sent = waiting.filter(enqueued_at__isnull=False, delivered_at__isnull=True)
    if not sent.filter(enqueued_at__lt=stale).exists():
        return []  # nothing waited long enough to be missed: no need to ask the broker
    before = timezone.now()
    count = queue.messages_waiting()
    if count is None:
        # The broker cannot count: fall back to re-sending what waited for too long.
        resend_before = before - timedelta(seconds=settings.GATEHOUSE_REPORT_RESEND_SECONDS)
        return list(sent.filter(enqueued_at__lt=resend_before).values_list("pk", flat=True))
    # Only messages sent before the count are compared, so a publish racing it is not a loss.
    missing = sent.filter(enqueued_at__lt=before).count() - count
    if missing <= 0:
        return []
    oldest = sent.filter(enqueued_at__lt=stale).order_by("enqueued_at", "pk")
    return list(oldest.values_list("pk", flat=True)[:missing])


def reports_sweep() -> dict[str, int]:
    """Re-queue reports whose worker died, and re-send queued ones whose message never reached
    a broker, was lost with a worker before it claimed the report, or was lost by the broker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS)
    requeued, given_up = [], []
    with transaction.atomic():
        lost = list(
            Report.objects.select_for_update(skip_locked=True)
            .filter(status=ReportStatus.RUNNING, heartbeat_at__lt=stale)
            .select_related("version__model")
        )
        for report in lost:
            if report.attempts >= settings.GATEHOUSE_REPORT_MAX_ATTEMPTS:
                # It took its worker down every time: stop, rather than loop forever.
                message = f"The worker running this report was lost {report.attempts} times; not retried again."
                payload = {"error": message, "attempts": report.attempts}
                _mark_failed(report, message, payload, now=now)
                given_up.append(report.pk)
                continue
            Report.objects.filter(pk=report.pk).update(
                status=ReportStatus.QUEUED,
                enqueued_at=None,
                delivered_at=None,
                progress_message="re-queued: worker lost",
            )
            audit_record(
                actor=None,
                action="report.requeued",
                obj=report,
                model_name=report.version.model.name,
                payload={"reason": "worker lost", "attempts": report.attempts},
            )
            requeued.append(report.pk)
    # After the commit, as ``_fail`` does: the files go only once the failure is durable.
    for report_id in given_up:
        _prune_files(report_id)
    waiting = Report.objects.filter(status=ReportStatus.QUEUED).exclude(pk__in=requeued)
    unsent = set(waiting.filter(enqueued_at__isnull=True).values_list("pk", flat=True))
    unclaimed = set(waiting.filter(delivered_at__lt=stale).values_list("pk", flat=True))
    dropped = set(_lost_in_broker(waiting, stale))
    if unclaimed or dropped:
        log.warning(
            "Re-sending lost report messages: %s lost with a worker, %s lost by the broker",
            sorted(unclaimed),
            sorted(dropped),
        )
    resend = sorted(unsent | unclaimed | dropped)
    sent = _send_all([*requeued, *resend])
    return {
        "requeued": len(requeued),
        "resent": len(resend),
        "sent": sent,
        "given_up": len(given_up),
    }
