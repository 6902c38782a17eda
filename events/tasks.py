"""Thin Celery tasks: take ids, call one function."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import connection

from . import delivery, mail
from . import dispatch as dispatcher

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_events() -> int:
    """Fan out the audit events written since the last run (periodic); logs only when it
    read any."""
    read = dispatcher.dispatch()
    if read:
        log.info("Dispatched %s audit events", read)
    return read


@shared_task(
    name="events.tasks.deliver", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def deliver(delivery_id: int) -> str | None:
    """Send one webhook delivery; a duplicate message finds it claimed and does nothing."""
    return delivery.deliver(delivery_id)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Send the deliveries that are due and held by no sender (periodic)."""
    sent = delivery.sweep()
    if sent:
        log.info("Delivery sweep: sent %s", sent)
    return sent


@worker_ready.connect(weak=False)
def sweep_deliveries_on_start(**_: object) -> None:
    """A worker that starts sends at once what a broker outage or a dead worker left due."""
    try:
        delivery.sweep()
    finally:
        connection.close()


@shared_task(ignore_result=True)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's e-mail, if it is still owed."""
    return mail.notification_email_send(notification_id=notification_id)


@shared_task(ignore_result=True)
def sweep_notification_emails() -> int:
    """Send the e-mails a lost message or a failed mail server left owed (periodic); logs
    only when it sent any."""
    sent = mail.mail_sweep()
    if sent:
        log.info("Mail sweep: sent %s", sent)
    return sent
