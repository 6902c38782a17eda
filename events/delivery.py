"""Sending a delivery: claimed atomically (a duplicate message does nothing), signed, posted
once, and its outcome stored as an Attempt. A failure is retried on the schedule
GATEHOUSE_WEBHOOK_RETRY_SCHEDULE (with jitter), always under the same ``webhook-id``; the
sweep sends the retries when they fall due, and whatever a lost message or a killed worker
left behind. 410 Gone disables the subscription; so does failing for
GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS (its owners learn it from the ``webhook.disabled`` audit
event, through the notifications)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from registry.audit.record import audit_record

from . import net, queue, signing
from .models import Attempt, Delivery, DeliveryStatus, Subscription

JITTER = 0.1  # each wait is stretched or shrunk by up to a tenth, so retries do not bunch
SWEEP_BATCH = 1000


def lease() -> timedelta:
    """How long a sender holds a delivery: longer than any one attempt can take."""
    return timedelta(seconds=2 * settings.GATEHOUSE_WEBHOOK_TIMEOUT + 5)


def _sendable(now: datetime) -> Q:
    """Pending, due, and held by no sender (never claimed, or its claim ran out)."""
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after the ``attempts``-th failed attempt, or None: no retry left."""
    schedule = settings.GATEHOUSE_WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    seconds = schedule[attempts - 1]
    return timedelta(seconds=seconds * random.uniform(1 - JITTER, 1 + JITTER))


def body_of(delivery: Delivery) -> str:
    """The bytes a delivery sends, the same on every attempt (its payload is fixed)."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)


def deliver(delivery_id: int) -> str | None:
    """Send one delivery once, if it is due and no other sender holds it; its status after,
    or None when there was nothing to do (a duplicate message, a missing row)."""
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(_sendable(now))
        .update(claimed_until=now + lease())
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None:  # deleted with its subscription meanwhile
        return None
    subscription = delivery.subscription
    if not subscription.is_active:
        Delivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, claimed_until=None
        )
        return DeliveryStatus.FAILED
    body = body_of(delivery)
    started = timezone.now()
    try:
        headers = signing.headers(subscription, msg_id=delivery.message_id, body=body)
    except (ValueError, TypeError) as exc:  # a secret that is not base64: retrying cannot help
        answer = net.Answer(None, "", f"cannot sign with the subscription's secret: {exc}", 0)
    else:
        answer = net.post(subscription.url, body.encode("utf-8"), headers)
    return _record(delivery_id, started, answer)


def _record(delivery_id: int, started: datetime, answer: net.Answer) -> str | None:
    """Store the attempt and move the delivery and its subscription on, in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None
        subscription = Subscription.objects.select_for_update().get(pk=delivery.subscription_id)
        Attempt.objects.create(
            delivery=delivery,
            started_at=started,
            duration_ms=answer.duration_ms,
            status_code=answer.status_code,
            error=answer.error,
            response=answer.body,
        )
        delivery.attempts += 1
        delivery.claimed_until = None
        if answer.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            if subscription.failing_since is not None:
                subscription.failing_since = None
                subscription.save(update_fields=["failing_since"])
        elif answer.status_code == 410:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            _disable(subscription, reason="the receiver answered 410 Gone", now=now)
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = now + delay
            if subscription.failing_since is None:
                subscription.failing_since = now
                subscription.save(update_fields=["failing_since"])
            days = settings.GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS
            if subscription.failing_since <= now - timedelta(days=days):
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
                _disable(subscription, reason=f"failing for {days} days", now=now)
        delivery.save(
            update_fields=["attempts", "claimed_until", "status", "delivered_at", "next_attempt_at"]
        )
    return delivery.status


def _disable(subscription: Subscription, *, reason: str, now: datetime) -> None:
    """Turn a subscription off (the system does it: no actor), fail what it still had to
    send, and audit it."""
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    subscription.deliveries.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, claimed_until=None
    )
    model_name = subscription.model.name if subscription.model is not None else ""
    audit_record(
        actor=None,
        action="webhook.disabled",
        obj=subscription,
        model_name=model_name,
        payload={"url": subscription.url, "reason": reason},
    )


def sweep(*, batch: int = SWEEP_BATCH) -> int:
    """Send the messages of due deliveries that no sender holds: retries that fell due, and
    messages lost with a broker that was down or a worker that was killed. A duplicate of a
    message still in the queue is harmless (the claim); how many were sent."""
    due = (
        Delivery.objects.filter(_sendable(timezone.now()))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:batch]
    )
    return queue.publish_all(lambda i: queue.deliver_publish(i), list(due), "deliveries")
