"""Thin Celery tasks: take ids, call one function."""

from __future__ import annotations

from celery import shared_task

from . import dispatch as dispatcher
from . import mail


@shared_task(ignore_result=True)
def dispatch_events() -> int:
    """Fan out the audit events written since the last run (periodic)."""
    return dispatcher.dispatch()


@shared_task(ignore_result=True)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's e-mail, if it is still owed."""
    return mail.notification_email_send(notification_id=notification_id)


@shared_task(ignore_result=True)
def sweep_notification_emails() -> int:
    """Send the e-mails a lost message or a failed mail server left owed (periodic)."""
    return mail.mail_sweep()
