"""Recording an action: who did it, to what, with which payload, on the chain."""

from __future__ import annotations

import json
import re
from decimal import Decimal
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
    """The payload as it is hashed and stored: JSON values only (dates, decimals and UUIDs
    become their JSON text), in the form every database gives back (``_as_stored``)."""
    text = json.dumps(payload, cls=DjangoJSONEncoder, allow_nan=False)
    value = json.loads(text)
    # Only a value written with one of these can need changing (ASCII-escaped text).
    if "-0.0" in text or "e+" in text or "\\u0000" in text or "\\ud" in text:
        value = _as_stored(value)
    return value


# A NUL or a surrogate (one not paired into a character: json.loads pairs escapes that form
# one) cannot be stored as text: PostgreSQL refuses it, UTF-8 cannot encode it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _as_stored(value: Any) -> Any:
    """``value`` as PostgreSQL's jsonb gives it back, so that what is hashed is what is
    stored, on every database alike (a chain moved from one to another still verifies):

    - jsonb numbers are decimals: no negative zero (``-0.0`` comes back ``0.0``), and a float
      Python writes with ``e+`` (``1e+16``, 1e16 and up) comes back as the integer its
      written digits spell (``10000000000000000``);
    - jsonb text cannot hold NUL, nor anything UTF-8 cannot encode (a lone surrogate): each
      becomes U+FFFD, the Unicode replacement character, in keys and values alike.

    Duplicate keys need nothing here: a dict has none, and keys that JSON writes alike
    (``1`` and ``"1"``) were already merged by the JSON round trip, the last one kept, as
    jsonb keeps it."""
    if isinstance(value, dict):
        return {_as_stored(key): _as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_stored(item) for item in value]
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, float):
        if value == 0.0:
            return 0.0
        written = repr(value)
        if "e+" in written:
            return int(Decimal(written))
    return value


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
