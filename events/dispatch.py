"""The dispatcher: reads the audit chain after its cursor and fans each new event out to the
webhook subscriptions and the people it concerns, in one transaction with moving the cursor.

Appenders take the chain-head lock until they commit, so events become visible in seq order:
whatever the dispatcher reads after its cursor is a complete prefix, and an event is fanned
out exactly once. A broker or a worker that is down delays this; it never loses an event."""

from __future__ import annotations

from django.db import transaction

from registry.models import AuditChainHead, AuditEvent

from . import notifications, webhooks
from .models import Cursor

CURSOR = "dispatch"
BATCH = 500


def cursor_start() -> int:
    """Where a new dispatcher starts: at the chain's head (events before it are history)."""
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return head or 0


def dispatch(*, batch: int = BATCH) -> int:
    """Fan out up to ``batch`` new audit events; how many were read."""
    with transaction.atomic():
        cursor = Cursor.objects.select_for_update().filter(name=CURSOR).first()
        if cursor is None:
            Cursor.objects.get_or_create(name=CURSOR, defaults={"seq": cursor_start()})
            cursor = Cursor.objects.select_for_update().get(name=CURSOR)
        events = list(AuditEvent.objects.filter(seq__gt=cursor.seq).order_by("seq")[:batch])
        if not events:
            return 0
        webhooks.fan_out(events)
        notifications.fan_out(events)
        cursor.seq = events[-1].seq
        cursor.save(update_fields=["seq"])
    return len(events)
