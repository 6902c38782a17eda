"""The Celery application; configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The periodic sweep runs every few seconds; its task logs itself when it acts.
SWEEP_TASK = "explain.tasks.sweep_reports"


def without_idle_sweeps(record: logging.LogRecord) -> bool:
    """Drop Celery's own lines about the sweep task (due, received, succeeded)."""
    return SWEEP_TASK not in record.getMessage()


@after_setup_logger.connect(weak=False)
def quiet_sweeps(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.addFilter(without_idle_sweeps)
