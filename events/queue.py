"""Delivery messages on the broker. Services reach Celery through here; the task is sent by
name, so services never import tasks. A message that cannot be sent is not lost: the
delivery stays due in the database and the sweep sends it."""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

DELIVER = "events.tasks.deliver"


def deliver_publish(delivery_id: int) -> None:
    """Hand one delivery's message to the broker; raises what the broker raises."""
    current_app.send_task(DELIVER, args=[delivery_id], retry=False)


def _send_all(delivery_ids: list[int]) -> int:
    sent = 0
    for delivery_id in delivery_ids:
        try:
            deliver_publish(delivery_id)
        except Exception:
            log.warning("Broker unavailable; deliveries wait for the sweep", exc_info=True)
            break
        sent += 1
    return sent


def deliver_on_commit(delivery_ids: list[int]) -> None:
    """Send the deliveries' messages once the transaction that made them commits."""
    if delivery_ids:
        transaction.on_commit(lambda: _send_all(delivery_ids), robust=True)
