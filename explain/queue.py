"""Report messages on the broker: publish one, count those waiting.

Services reach Celery through here. The report task is sent by name (its queue comes from
``CELERY_TASK_ROUTES``), so ``services`` never imports ``tasks``, which calls services.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

log = logging.getLogger(__name__)

RUN_REPORT = "explain.tasks.run_report"


def report_publish(report_id: int) -> None:
    """Hand one report's message to the broker; raises what the broker raises."""
    # No time limits in the message: the worker's own settings apply (None overrides
    # the publisher's CELERY_TASK_*TIME_LIMIT that Celery would otherwise stamp in).
    current_app.send_task(
        RUN_REPORT, args=[report_id], retry=False, time_limit=None, soft_time_limit=None
    )


def messages_waiting() -> int | None:
    """How many messages wait in the broker's report queue, or None if it cannot say."""
    queue = current_app.amqp.queues[settings.GATEHOUSE_REPORT_QUEUE]
    try:
        with current_app.connection_for_write() as conn:
            conn.connect()
            return queue(conn.default_channel).queue_declare().message_count
    except Exception:
        log.warning("Could not count the messages in the broker", exc_info=True)
        return None
