"""Thin Celery tasks: take ids, call one function."""

from __future__ import annotations

from celery import shared_task

from . import dispatch as dispatcher


@shared_task(ignore_result=True)
def dispatch_events() -> int:
    """Fan out the audit events written since the last run (periodic)."""
    return dispatcher.dispatch()
