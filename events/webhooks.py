"""Webhook fan-out: each new audit event becomes a Delivery for every active subscription
whose scope and event types it matches."""

from __future__ import annotations

from registry.models import AuditEvent


def fan_out(events: list[AuditEvent]) -> int:
    """Create the deliveries of ``events`` (in the dispatcher's transaction); how many."""
    return 0
