"""Event messages on the broker: webhook deliveries and notification e-mails. Services reach
Celery through here; each task is sent by name, so services never import tasks. A message
that cannot be sent is not lost: its row stays due in the database, and a sweep sends it
(``delivery.sweep``, ``mail.mail_sweep``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

DELIVER = "events.tasks.deliver"
SEND_EMAIL = "events.tasks.send_notification_email"


def deliver_publish(delivery_id: int) -> None:
    """Hand one delivery's message to the broker; raises what the broker raises."""
    current_app.send_task(DELIVER, args=[delivery_id], retry=False)


def email_publish(notification_id: int) -> None:
    """Hand one notification's e-mail to the broker; raises what the broker raises."""
    current_app.send_task(SEND_EMAIL, args=[notification_id], retry=False)


def publish_all(publish: Callable[[int], None], ids: list[int], what: str) -> int:
    """Publish each id in turn; stop at the first failure (the broker is down: the sweep
    sends the rest), so a transaction's commit waits for one time-out, not one per message."""
    sent = 0
    for object_id in ids:
        try:
            publish(object_id)
        except Exception:
            log.warning("Broker unavailable; %s wait for the sweep", what, exc_info=True)
            break
        sent += 1
    return sent


def deliver_on_commit(delivery_ids: list[int]) -> None:
    """Send the deliveries' messages once the transaction that made them commits."""
    if delivery_ids:
        transaction.on_commit(
            lambda: publish_all(lambda i: deliver_publish(i), delivery_ids, "deliveries"),
            robust=True,
        )


def email_on_commit(notification_ids: list[int]) -> None:
    """Send the notifications' e-mails once the transaction that made them commits."""
    if notification_ids:
        transaction.on_commit(
            lambda: publish_all(lambda i: email_publish(i), notification_ids, "e-mails"),
            robust=True,
        )
