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


# The periodic tasks (the beat's schedule) run every few seconds; each logs itself when it
# acts, so Celery's own lines about them (due, received, succeeded) are left out.
def periodic_tasks() -> frozenset[str]:
    from django.conf import settings

    return frozenset(str(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values())


def without_idle_sweeps(record: logging.LogRecord) -> bool:
    """Drop Celery's own lines about the periodic tasks."""
    message = record.getMessage()
    return not any(task in message for task in periodic_tasks())


@after_setup_logger.connect(weak=False)
def quiet_sweeps(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.addFilter(without_idle_sweeps)
