"""Report verbs: request, run (claimed atomically), and sweep what was lost."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from registry import permissions
from registry.audit import audit_record
from registry.audit_chain import canonical_json
from registry.errors import InvalidInput, NotAllowed
from registry.models import ModelVersion
from registry.roles import has_capability

from . import runners
from .models import Report, ReportFile, ReportKind, ReportStatus

log = logging.getLogger(__name__)

# Errors worth a retry: the database was briefly unavailable or locked.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
AUTOMATIC_KINDS = (ReportKind.FAIRNESS, ReportKind.PERFORMANCE, ReportKind.KPI)
EXPLAIN_KINDS = (ReportKind.SHAP, ReportKind.LIME)


def params_hash(params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a report's params."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def result_hash(result: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a report's result."""
    return hashlib.sha256(canonical_json(result).encode()).hexdigest()


def can_request_reports(user, version: ModelVersion, token=None) -> bool:
    """People who work on or review the model may (re-)run its reports; CI and auditors not."""
    if permissions.is_service_account(user) or not permissions.can_view_model(
        user, version.model, token
    ):
        return False
    return any(
        has_capability(user, capability)
        for capability in ("can_register", "can_sign_off", "can_promote")
    )


def _send(report_id: int) -> bool:
    """Hand the task to the broker; if it is down, the sweep sends it later."""
    from .tasks import run_report

    try:
        run_report.apply_async(args=[report_id], retry=False)
    except Exception:
        log.warning(
            "Broker unavailable; report %s stays queued for the sweep", report_id, exc_info=True
        )
        return False
    Report.objects.filter(pk=report_id).update(enqueued_at=timezone.now())
    return True


def _send_all(report_ids: list[int]) -> int:
    """Send reports in order; stop at the first failure (the broker is down: the sweep sends
    the rest), so a registration waits for one connection timeout, not one per report."""
    for sent, report_id in enumerate(report_ids):
        if not _send(report_id):
            return sent
    return len(report_ids)


def _enqueue_on_commit(report_ids: list[int]) -> None:
    if report_ids:
        transaction.on_commit(lambda: _send_all(report_ids))


@dataclass(frozen=True)
class ReportRequest:
    """The report asked for, and whether this call created it."""

    report: Report
    created: bool


def report_request(
    *,
    actor,
    version: ModelVersion,
    kind: str,
    params: dict[str, Any] | None = None,
    token=None,
    check: bool = True,
    enqueue: bool = True,
) -> ReportRequest:
    """Queue a report of ``kind`` with ``params`` (merged over the defaults); asking again for
    the same version, kind and params returns the existing report."""
    if check and not can_request_reports(actor, version, token):
        raise NotAllowed("You may not run reports for this model.")
    if kind not in ReportKind.values:
        raise InvalidInput.for_field("kind", f"Unknown report kind {kind!r}.")
    if kind in EXPLAIN_KINDS and not hasattr(version, "model_file"):
        raise InvalidInput.for_field("kind", "This version has no model file to explain.")
    defaults = runners.default_params(kind, version)
    unknown = set(params or {}) - set(defaults)
    if unknown:
        raise InvalidInput.for_field(
            "params", f"Unknown params for {kind}: {', '.join(sorted(unknown))}."
        )
    merged = {**defaults, **(params or {})}
    errors = runners.check_params(kind, merged, version)
    if errors:
        raise InvalidInput(
            "Invalid report params.", errors={f"params.{k}": [v] for k, v in errors.items()}
        )
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


def reports_for_new_version(*, version: ModelVersion, actor, **_: Any) -> None:
    """Queue the automatic reports of a newly registered version, in its transaction."""
    kinds = list(AUTOMATIC_KINDS)
    if hasattr(version, "model_file"):
        kinds += [ReportKind.SHAP, ReportKind.LIME]
    created = [
        request.report.pk
        for kind in kinds
        if (
            request := report_request(
                actor=actor, version=version, kind=kind, check=False, enqueue=False
            )
        ).created
    ]
    _enqueue_on_commit(created)


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
                Report.objects.filter(pk=self.report_id, status=ReportStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
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


def _store_files(report: Report, files: dict[str, tuple[bytes, str]]) -> list[str]:
    paths = []
    for name, (content, content_type) in files.items():
        digest = hashlib.sha256(content).hexdigest()
        path = default_storage.save(
            f"reports/{report.pk}/{digest[:16]}-{name}", ContentFile(content)
        )
        paths.append(path)
        ReportFile.objects.update_or_create(
            report=report,
            name=name,
            defaults={"file": path, "content_type": content_type, "sha256": digest},
        )
    return paths


def report_run(*, report_id: int) -> Report | None:
    """Compute a claimed report and store its result; a second delivery does nothing."""
    if not _claim(report_id):
        return None
    report = Report.objects.select_related("version__model", "version__evaluation_data").get(
        pk=report_id
    )
    model_name = report.version.model.name
    try:
        with _Heartbeat(report_id):
            output = runners.run(
                report.kind, report.version, report.params, _ProgressWriter(report_id)
            )
    except (SoftTimeLimitExceeded, Exception) as exc:
        if isinstance(exc, TRANSIENT_ERRORS):
            # Give the claim back so the retry can take it again.
            Report.objects.filter(pk=report_id).update(status=ReportStatus.QUEUED)
            raise
        message = (
            "Time limit exceeded."
            if isinstance(exc, SoftTimeLimitExceeded)
            else f"{type(exc).__name__}: {exc}"
        )
        log.error("Report %s failed:\n%s", report_id, traceback.format_exc())
        with transaction.atomic():
            if Report.objects.filter(pk=report_id, status=ReportStatus.RUNNING).update(
                status=ReportStatus.FAILED,
                error=message[:5000],
                finished_at=timezone.now(),
                progress=100,
            ):
                audit_record(
                    actor=None,
                    action="report.failed",
                    obj=report,
                    model_name=model_name,
                    payload={
                        "version": report.version.version,
                        "kind": report.kind,
                        "error": message[:500],
                    },
                )
        return Report.objects.get(pk=report_id)

    digest = result_hash(output.result)
    stored: list[str] = []
    try:
        with transaction.atomic():
            locked = Report.objects.select_for_update().get(pk=report_id)
            if locked.status != ReportStatus.RUNNING:
                return locked  # swept and finished elsewhere meanwhile: keep the first result
            stored = _store_files(locked, output.files)
            Report.objects.filter(pk=report_id).update(
                status=ReportStatus.SUCCEEDED,
                result=output.result,
                result_sha256=digest,
                engine_versions=runners.engine_versions(report.kind),
                progress=100,
                progress_message="done",
                finished_at=timezone.now(),
            )
            audit_record(
                actor=None,
                action="report.completed",
                obj=report,
                model_name=model_name,
                payload={
                    "version": report.version.version,
                    "kind": report.kind,
                    "result_sha256": digest,
                    "files": {f.name: f.sha256 for f in locked.files.all()},
                },
            )
    except BaseException:
        for path in stored:
            default_storage.delete(path)
        raise
    return Report.objects.get(pk=report_id)


def reports_sweep() -> dict[str, int]:
    """Re-queue reports whose worker died, and re-send queued ones the broker never got."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS)
    resend_before = now - timedelta(seconds=settings.GATEHOUSE_REPORT_RESEND_SECONDS)
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
                Report.objects.filter(pk=report.pk).update(
                    status=ReportStatus.FAILED, error=message, finished_at=now, progress=100
                )
                action, payload = "report.failed", {"error": message, "attempts": report.attempts}
                given_up.append(report.pk)
            else:
                Report.objects.filter(pk=report.pk).update(
                    status=ReportStatus.QUEUED,
                    enqueued_at=None,
                    progress_message="re-queued: worker lost",
                )
                action, payload = (
                    "report.requeued",
                    {"reason": "worker lost", "attempts": report.attempts},
                )
                requeued.append(report.pk)
            audit_record(
                actor=None,
                action=action,
                obj=report,
                model_name=report.version.model.name,
                payload=payload,
            )
    unsent = list(
        Report.objects.filter(status=ReportStatus.QUEUED)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend_before))
        .exclude(pk__in=requeued)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = _send_all([*requeued, *unsent])
    return {
        "requeued": len(requeued),
        "resent": len(unsent),
        "sent": sent,
        "given_up": len(given_up),
    }
