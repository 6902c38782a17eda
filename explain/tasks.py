"""Thin Celery tasks: take ids, call one service. The worker's signal hooks live here too."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_received, worker_ready
from celery.utils.time import maybe_iso8601
from django.db import connection

from . import services

log = logging.getLogger(__name__)


class ReportTask(Task):
    """Runs a report; a hard time-limit kill is reported as a time-out, not a lost worker."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # On a hard time limit Celery calls this in the worker's parent process: the child
        # that ran the report was killed and cannot say so itself.
        if isinstance(exc, TimeLimitExceeded) and args:
            seconds = exc.args[0] if exc.args and isinstance(exc.args[0], int | float) else None
            try:
                services.report_timed_out(report_id=args[0], seconds=seconds)
            finally:
                connection.close()


@shared_task(
    base=ReportTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=8,
)
def run_report(report_id: int) -> None:
    """Compute one report; a duplicate delivery finds it claimed and does nothing."""
    services.report_run(report_id=report_id)


@shared_task(ignore_result=True)
def sweep_reports() -> dict[str, int]:
    """Re-queue reports lost with their worker, and re-send ones the broker never received.
    Logs only when it did something (``gatehouse.celery`` keeps the idle runs out of the log)."""
    counts = services.reports_sweep()
    if any(counts.values()):
        log.info("Report sweep: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


@task_received.connect(weak=False)
def report_message_received(request=None, **_: object) -> None:
    """Note in the report when a worker received its message (in the worker's main process),
    so the sweep can tell a message lost with its worker from one still waiting in a queue."""
    if request is None or request.name != run_report.name or not request.args:
        return
    connection.close_if_unusable_or_obsolete()
    try:
        services.report_delivered(report_id=request.args[0], due=maybe_iso8601(request.eta))
    except services.TRANSIENT_ERRORS:
        connection.close()
        log.warning("Could not note the delivery of report %s", request.args[0], exc_info=True)


@worker_ready.connect(weak=False)
def sweep_on_start(**_: object) -> None:
    """A worker that starts picks up what a dead one left behind, at once."""
    try:
        services.reports_sweep()
    finally:
        connection.close()
