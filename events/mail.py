"""Notification e-mail through Django's e-mail framework: one message per recipient, plain
text with a minimal HTML alternative (``templates/events/email/``).

The dispatcher's transaction marks each notification a person wants by e-mail
(``email_wanted``); once it commits, ``queue.email_on_commit`` publishes a task per
notification by name (services never import tasks). A broker that is down loses nothing: ``mail_sweep`` (beat, every
GATEHOUSE_MAIL_SWEEP_SECONDS) sends what is still owed after a minute. A notification is
marked ``emailed_at`` when its message was handed to the mail server."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Notification

log = logging.getLogger(__name__)

# A message owed for longer than this was not sent by its task: the sweep sends it.
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 200


def absolute(path: str) -> str:
    """A path in the app as a link people follow from their mail (GATEHOUSE_BASE_URL)."""
    return f"{settings.GATEHOUSE_BASE_URL.rstrip('/')}{path}"


def message_for(notification: Notification) -> EmailMultiAlternatives:
    """The e-mail of one notification, to its recipient."""
    context = {
        "notification": notification,
        "url": absolute(notification.link or "/"),
        "inbox_url": absolute(reverse("inbox")),
        "profile_url": absolute(reverse("profile")),
    }
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=render_to_string("events/email/notification.txt", context),
        to=[notification.recipient.email],
    )
    message.attach_alternative(
        render_to_string("events/email/notification.html", context), "text/html"
    )
    return message


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's e-mail if it is still owed; whether it was sent now.

    The row stays locked while the message goes out, so the task and the sweep never both
    send it; a mail server that fails leaves it owed (the sweep tries again)."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, email_wanted=True, emailed_at__isnull=True)
            .first()
        )
        if notification is None:
            return False
        recipient = notification.recipient
        if not recipient.is_active or not recipient.email:
            Notification.objects.filter(pk=notification.pk).update(email_wanted=False)
            return False
        message_for(notification).send()
        Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
    return True


def mail_sweep(*, batch: int = SWEEP_BATCH) -> int:
    """Send the e-mails still owed a minute after their notification was made (a broker that
    was down, a worker lost, a mail server that failed); how many were sent. Stops at the
    first failure: the mail server is likely down, and the next sweep tries again."""
    cutoff = timezone.now() - SWEEP_AFTER
    owed = list(
        Notification.objects.filter(
            email_wanted=True, emailed_at__isnull=True, created_at__lt=cutoff
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch]
    )
    sent = 0
    for notification_id in owed:
        try:
            sent += notification_email_send(notification_id=notification_id)
        except Exception:
            log.warning("Sending e-mail failed; the next sweep tries again", exc_info=True)
            break
    return sent
