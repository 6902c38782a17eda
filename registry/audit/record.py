"""Recording an action: who did it, to what, with which payload, on the chain."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Model

from ..models import AuditEvent
from .actions import ACTIONS
from .chain import chain_append_many

SYSTEM_ACTOR = "system"


def actor_label(user) -> str:
    """The name an actor is recorded under: the username, or ``system``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_ACTOR
    return user.get_username()


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    # Store exactly what is hashed: dates, decimals and UUIDs become their JSON text.
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder, allow_nan=False))


def _event(actor, action, obj, object_type, object_id, model_name, payload) -> AuditEvent:
    # Positional, so the test walking every ``action=`` sees the callers, not this hand-on.
    ACTIONS.check(action)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditEvent(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        model_name=model_name,
        payload=_json_safe(payload or {}),
    )


def audit_event(
    *,
    actor,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    model_name: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event not yet on the chain, for ``audit_record_many``; ``action`` must be one
    declared in ``registry.audit.actions``."""
    return _event(actor, action, obj, object_type, object_id, model_name, payload)


def audit_record(
    *,
    actor,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    model_name: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction; ``action`` must be one
    declared in ``registry.audit.actions``."""
    event = _event(actor, action, obj, object_type, object_id, model_name, payload)
    return audit_record_many([event])[0]


def audit_record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Append events made by ``audit_event`` to the chain in order, under one take of the head
    lock, in the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    return chain_append_many(events)


__all__ = ["SYSTEM_ACTOR", "actor_label", "audit_event", "audit_record", "audit_record_many"]
