"""What a webhook carries: a thin event (what happened, to what, by whom, when, and links),
with the audit sequence number and event hash, so a receiver can check it against an exported
chain. Built once per delivery and stored, so every attempt sends the same bytes."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from registry.audit.chain import format_time
from registry.models import AuditEvent


def message_id(subscription_id: int, seq: int | None, *, test: str = "") -> str:
    """The ``webhook-id`` of an event's delivery to a subscription: the same on every attempt
    and redelivery, so a receiver can drop duplicates by it."""
    if seq is None:
        return f"msg_{subscription_id}_test_{test}"
    return f"msg_{subscription_id}_{seq}"


def _link(path: str) -> str:
    return f"{settings.GATEHOUSE_BASE_URL.rstrip('/')}{path}"


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """The body of an event's webhook (Standard Webhooks shape: type, timestamp, data)."""
    version = event.payload.get("version") if isinstance(event.payload, dict) else None
    links: dict[str, str] = {"audit": _link(f"/audit/?seq={event.seq}")}
    if event.model_name:
        links["model"] = _link(f"/models/{event.model_name}/")
        if isinstance(version, str):
            links["version"] = _link(f"/models/{event.model_name}/versions/{version}/")
    return {
        "type": event.action,
        "timestamp": format_time(event.created_at),
        "data": {
            "seq": event.seq,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
            "model": event.model_name or None,
            "version": version if isinstance(version, str) else None,
            "actor": event.actor_name,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "links": links,
        },
    }
