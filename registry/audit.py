"""Appending to and verifying the audit log stored in the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, transaction
from django.db.models import CharField, F, Func, Model, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .audit_chain import (
    GENESIS_HASH,
    ChainBreak,
    ChainReport,
    event_hash,
    format_time,
    verify_events,
)
from .models import AuditChainHead, AuditEvent
from .types import Actor, AnyUser

SYSTEM_ACTOR = "system"


def actor_label(user: AnyUser | None) -> str:
    """The name an actor is recorded under: the username, or ``system``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_ACTOR
    return user.get_username()


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    # Store exactly what is hashed: dates, decimals and UUIDs become their JSON text.
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder, allow_nan=False))


def audit_record(
    *,
    actor: Actor | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    model_name: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    # The head row is the lock that orders writers: no forks, no duplicate numbers.
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    event = AuditEvent(
        seq=head.seq + 1,
        created_at=timezone.now(),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        model_name=model_name,
        payload=_json_safe(payload or {}),
        prev_hash=head.hash,
    )
    event.hash = event_hash(event_content(event))
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


def event_content(event: AuditEvent) -> dict[str, Any]:
    """The hashed content of a stored event, as the offline verifier sees it."""
    return {
        "seq": event.seq,
        "created_at": format_time(event.created_at),
        "actor": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "model": event.model_name,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_FIELDS = (
    "seq",
    "created_at",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "model_name",
    "payload",
    "prev_hash",
    "hash",
)


def _utc_text(text: str) -> str:
    """SQLite's stored UTC text (``YYYY-MM-DD HH:MM:SS[.ffffff]``) in the hashed form."""
    if text[10:11] == " ":
        if len(text) == 26:
            return f"{text[:10]}T{text[11:]}Z"
        if len(text) == 19:
            return f"{text[:10]}T{text[11:]}.000000Z"
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"unreadable timestamp {text!r}")
    return format_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# PostgreSQL formats created_at in exactly the hashed text form.
_PG_UTC_TEXT = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__


def _parse_json(text: str) -> Any:
    """``json.loads`` for the JSON text a database column holds, through the same C scanner
    without the per-call set-up; anything unusual goes through ``json.loads`` itself."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def iter_event_rows(queryset=None, chunk_size: int = 5000) -> Iterator[tuple]:
    """Events in chain order as plain tuples in ``_FIELDS`` order, the time already in its
    hashed text form and the payload as the JSON text the database holds (what exports
    write out as is). SQLite and PostgreSQL hand both over as text, so no datetime or
    JSON object is built per row."""
    queryset = AuditEvent.objects.all() if queryset is None else queryset
    vendor = connections[queryset.db].vendor
    queryset = queryset.order_by("seq")
    if vendor not in ("sqlite", "postgresql"):
        rows = queryset.values_list(*_FIELDS).iterator(chunk_size=chunk_size)
        for seq, created, *middle, payload, prev, digest in rows:
            text = json.dumps(payload, ensure_ascii=False)
            yield (seq, format_time(created), *middle, text, prev, digest)
        return
    created = (
        Func(F("created_at"), template=_PG_UTC_TEXT, output_field=CharField())
        if vendor == "postgresql"
        else Cast("created_at", output_field=CharField())
    )
    fields = ("seq", "_created", *_FIELDS[2:7], "_payload", "prev_hash", "hash")
    rows = (
        queryset.annotate(_created=created, _payload=Cast("payload", output_field=TextField()))
        .values_list(*fields)
        .iterator(chunk_size=chunk_size)
    )
    if vendor == "postgresql":
        yield from rows
        return
    for seq, created_text, *middle, payload, prev, digest in rows:
        yield (seq, _utc_text(created_text), *middle, payload, prev, digest)


def iter_event_contents(queryset=None, chunk_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Stream events in chain order as hashed-content dicts, without building model objects."""
    for seq, created, actor, action, otype, oid, model, payload, prev, digest in iter_event_rows(
        queryset, chunk_size
    ):
        yield {
            "seq": seq,
            "created_at": created,
            "actor": actor,
            "action": action,
            "object_type": otype,
            "object_id": oid,
            "model": model,
            "payload": _parse_json(payload),
            "prev_hash": prev,
            "hash": digest,
        }


def audit_verify() -> ChainReport:
    """Walk the whole stored chain and check it ends at the recorded head.

    The head is read first and the walk stops there: events appended meanwhile (their head
    update commits with them) are not mistaken for a break. On PostgreSQL the walk runs in
    one REPEATABLE READ snapshot when it can, so an event beyond the head is then a forgery.
    """
    with transaction.atomic():
        snapshot = _begin_snapshot()
        head = AuditChainHead.objects.get(pk=1)
        events = AuditEvent.objects.filter(seq__lte=head.seq)
        report = verify_events(iter_event_contents(events))
        beyond = (
            AuditEvent.objects.filter(seq__gt=head.seq).order_by("seq").first()
            if snapshot and report.ok
            else None
        )
    if report.ok and (head.seq, head.hash) != (report.last_seq, report.last_hash):
        reason = f"the chain ends at #{report.last_seq} but the head records #{head.seq}"
        return ChainReport(
            report.checked, report.last_seq, report.last_hash, ChainBreak(head.seq, reason)
        )
    if beyond is not None:
        reason = f"event #{beyond.seq} lies beyond the head (#{head.seq})"
        return ChainReport(
            report.checked, report.last_seq, report.last_hash, ChainBreak(beyond.seq, reason)
        )
    return report


def _begin_snapshot() -> bool:
    """Make the transaction just opened read one snapshot, and say whether it does: SQLite's
    transactions always do; on PostgreSQL only an outermost transaction can be switched."""
    if connection.vendor == "sqlite":
        return True
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return True


__all__ = [
    "GENESIS_HASH",
    "actor_label",
    "audit_record",
    "audit_verify",
    "event_content",
    "iter_event_contents",
    "iter_event_rows",
]
