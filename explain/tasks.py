"""Thin Celery tasks: take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
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
    """Re-queue reports lost with their worker, and re-send ones the broker never received."""
    return services.reports_sweep()
