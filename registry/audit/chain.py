"""The audit chain: how events are linked, hashed, appended, read back and verified.

The rules themselves (canonical JSON, the hashed fields, the event hash) live in
``registry/offline.py``, the standard-library-only module an auditor's offline verifier is a
copy of; this module adds the app's timestamp form, the append under the head lock, and the
fast walk over the stored chain.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections, transaction
from django.db.models import CharField, F, Func, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import AuditChainHead, AuditEvent
from ..offline import HASHED_FIELDS, canonical_json, event_hash

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "ChainBreak",
    "ChainReport",
    "audit_verify",
    "canonical_json",
    "chain_append",
    "chain_append_many",
    "event_content",
    "event_hash",
    "format_time",
    "iter_event_chunks",
    "iter_event_contents",
    "iter_event_rows",
    "verify_events",
]

GENESIS_HASH = "0" * 64


def format_time(moment: datetime) -> str:
    """UTC with microseconds, the one textual form a timestamp is hashed in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ChainBreak:
    """The first place where the chain does not hold."""

    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """What a walk over the chain found."""

    checked: int
    last_seq: int
    last_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


# The encoder json.dumps would build on every call to canonical_json, built once: the same
# bytes without the per-call construction.
_canonical_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_quote = json.encoder.encode_basestring  # what that encoder writes for a str (C version)


def _payload_encoder() -> Callable[[Any], str]:
    """The C encoder behind ``_canonical_encode``, made once instead of on every call (it is
    half the cost of a chain walk); without the C accelerator, the encoder itself."""
    if _c_payload_encoder is None:
        return _canonical_encode
    encoder = _c_payload_encoder
    return lambda value: "".join(encoder(value, 0))


# c_make_encoder is the C accelerator json.encoder imports when it can; typeshed omits it.
# Its arguments: markers, default, encoder, indent, key and item separators, sort_keys,
# skipkeys, allow_nan. No markers: JSON read from a database cannot be circular. No default:
# anything JSON cannot hold raises TypeError, and _canonical_body then takes the generic
# path, which raises json's own error.
_c_make_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_c_payload_encoder = (
    _c_make_encoder(None, None, _quote, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)
_encode_payload = _payload_encoder()


def _canonical_body(event: Mapping[str, Any]) -> str:
    """``canonical_json`` of an event's hashed fields, written out in sorted key order so only
    the payload goes through the (sorting) encoder. Anything but an int ``seq`` and str
    fields takes the generic path; the result is the same text either way."""
    seq = event["seq"]
    if type(seq) is int:
        try:
            return (
                f'{{"action":{_quote(event["action"])},"actor":{_quote(event["actor"])},'
                f'"created_at":{_quote(event["created_at"])},"model":{_quote(event["model"])},'
                f'"object_id":{_quote(event["object_id"])},'
                f'"object_type":{_quote(event["object_type"])},'
                f'"payload":{_encode_payload(event["payload"])},'
                f'"prev_hash":{_quote(event["prev_hash"])},"seq":{seq}}}'
            )
        except TypeError:
            pass
    return _canonical_encode({name: event[name] for name in HASHED_FIELDS})


def verify_events(
    events: Iterable[Mapping[str, Any]], *, prev_hash: str = GENESIS_HASH, prev_seq: int = 0
) -> ChainReport:
    """Walk events in order (dicts with HASHED_FIELDS and ``hash``) and find the first break.

    ``prev_hash``/``prev_seq`` anchor a segment that does not start at the beginning.
    Each hash is recomputed exactly as ``event_hash`` does.
    """
    checked = 0
    sha256, body = hashlib.sha256, _canonical_body
    for event in events:
        seq = event["seq"]
        if seq != prev_seq + 1:
            return ChainReport(
                checked,
                prev_seq,
                prev_hash,
                ChainBreak(seq, f"expected sequence number {prev_seq + 1}, found {seq}"),
            )
        if event["prev_hash"] != prev_hash:
            return ChainReport(
                checked,
                prev_seq,
                prev_hash,
                ChainBreak(seq, "prev_hash does not match the previous event's hash"),
            )
        digest = event["hash"]
        if sha256(body(event).encode("utf-8")).hexdigest() != digest:
            return ChainReport(
                checked,
                prev_seq,
                prev_hash,
                ChainBreak(seq, "content does not match its hash (the event was altered)"),
            )
        prev_hash, prev_seq = digest, seq
        checked += 1
    return ChainReport(checked, prev_seq, prev_hash, None)


# --- appending ----------------------------------------------------------------------------


def chain_append(event: AuditEvent) -> AuditEvent:
    """Number, time, link and hash ``event`` after the current head and store it, in the
    caller's transaction."""
    return chain_append_many([event])[0]


def chain_append_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Append ``events`` in order, each linked to the one before, under one take of the head
    lock: one locking read, one insert and one head update however many there are. Each
    event is numbered, timed, linked and hashed exactly as if appended alone."""
    if not events:
        return events
    # The head row is the lock that orders writers: no forks, no duplicate numbers.
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    seq, prev_hash = head.seq, head.hash
    for event in events:
        seq += 1
        event.seq = seq
        event.created_at = timezone.now()
        event.prev_hash = prev_hash
        event.hash = prev_hash = event_hash(event_content(event))
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return events


# --- reading and verifying the stored chain -----------------------------------------------


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
    for chunk in iter_event_chunks(queryset, chunk_size):
        yield from chunk


def iter_event_chunks(queryset=None, chunk_size: int = 5000) -> Iterator[list[tuple]]:
    """``iter_event_rows`` in lists of up to ``chunk_size`` rows, as the cursor fetches them."""
    queryset = AuditEvent.objects.all() if queryset is None else queryset
    vendor = connections[queryset.db].vendor
    queryset = queryset.order_by("seq")
    if vendor not in ("sqlite", "postgresql"):
        rows = queryset.values_list(*_FIELDS).iterator(chunk_size=chunk_size)
        while chunk := list(itertools.islice(rows, chunk_size)):
            yield [
                (
                    seq,
                    format_time(created),
                    *middle,
                    json.dumps(payload, ensure_ascii=False),
                    prev,
                    digest,
                )
                for seq, created, *middle, payload, prev, digest in chunk
            ]
        return
    created = (
        Func(F("created_at"), template=_PG_UTC_TEXT, output_field=CharField())
        if vendor == "postgresql"
        else Cast("created_at", output_field=CharField())
    )
    fields = ("seq", "_created", *_FIELDS[2:7], "_payload", "prev_hash", "hash")
    query = (
        queryset.annotate(_created=created, _payload=Cast("payload", output_field=TextField()))
        .values_list(*fields)
        .query
    )
    # The queryset's SQL run on a plain cursor: the rows are the tuples wanted already, so
    # the ORM's per-row iterator (a third of an export's time) is left out.
    try:
        sql, params = query.get_compiler(queryset.db).as_sql()
    except EmptyResultSet:
        return
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        if vendor == "postgresql":
            while chunk := cursor.fetchmany(chunk_size):
                yield chunk
            return
        utc = _utc_text
        while chunk := cursor.fetchmany(chunk_size):
            yield [
                (
                    seq,
                    f"{created[:10]}T{created[11:]}Z"
                    if len(created) == 26 and created[10] == " "
                    else utc(created),
                    actor,
                    action,
                    otype,
                    oid,
                    model,
                    payload,
                    prev,
                    digest,
                )
                for seq, created, actor, action, otype, oid, model, payload, prev, digest in chunk
            ]


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


# --- the fast walk over the stored chain -------------------------------------------------
#
# ``audit_verify`` reads raw rows (a plain cursor, large ``fetchmany`` chunks, the time and the
# payload as text) and checks each one in one tight loop. It computes exactly the text
# ``_canonical_body`` (and so ``event_hash``) does: the stored payload text is never trusted
# to be canonical, it is parsed and re-encoded, because the database may hold the same value
# spelled differently (key order, spaces, escapes) and only the canonical spelling is hashed.
#
# Except first, on SQLite: it keeps a payload as the text it is given, and the payload field
# writes the canonical spelling (``CanonicalJSONEncoder``), so for every event recorded so
# the stored text is the very text its hash covers. The walk hashes the body with that text
# spliced in as it is, and parses only where this does not match. That trusts nothing: the
# body is accepted only when its sha256 is the stored hash, and the body determines the row
# (every other field is one JSON string, which decodes to one value; seq and prev_hash are
# compared on their own first), so the stored text is then byte for byte the hashed one. An
# event stored in another spelling (recorded before the encoder, or rewritten with the same
# value) takes the parse; a changed one fails both.
#
# orjson parses and re-encodes a payload several times faster than the json module, and for
# the payloads it is used on it writes the very bytes ``canonical_json`` writes (a test holds
# the two identical over many generated values: every escape, key order, integer and float
# form). It is not used where it could differ, which a look at its output tells:
#
# - a float that ``repr`` writes with an exponent: orjson writes ``1e-7`` for ``1e-07`` and
#   ``0.00001`` for ``1e-05`` (its ``e+`` forms are Python's, but see the next point);
# - an integer beyond 64 bits: orjson reads it as a float, which it writes with ``e+``
#   (it is at least 2**63), where the json module keeps the integer;
# - text orjson refuses (NaN, 1e400, a lone surrogate escape, ...): the json module decides.
#
# So a payload whose orjson output has a digit followed by ``e+``/``e-``, or ``0.0000``, takes
# the json module's path; everything else orjson reads is the value the json module reads
# (the same duplicate-key rule, the same correctly rounded floats), written the same way.

_WALK_CHUNK = 20_000
_orjson_loads, _orjson_dumps, _Fragment = orjson.loads, orjson.dumps, orjson.Fragment
_SORT_KEYS = orjson.OPT_SORT_KEYS
_ORJSON_ERRORS = (orjson.JSONDecodeError, orjson.JSONEncodeError)
_EXPONENT = re.compile(rb"[0-9]e[-+]")


def _fast_payload(text: str) -> bytes | None:
    """``canonical_json(json.loads(text))`` as UTF-8, written by orjson; None where orjson's
    bytes could differ or it refuses the text (the caller then takes the json module's path).
    ``_walk`` holds this inlined."""
    if type(text) is not str:  # orjson would read bytes too; the json module refuses them
        return None
    try:
        out = _orjson_dumps(_orjson_loads(text), option=_SORT_KEYS)
    except _ORJSON_ERRORS:
        return None
    if b"0.0000" in out or ((b"e-" in out or b"e+" in out) and _EXPONENT.search(out)):
        return None
    return out


def _slow_payload(text: str) -> str:
    """``canonical_json(json.loads(text))`` through the json module's C scanner and encoder.
    Raises ValueError (not JSON, NaN) or TypeError (not text)."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        value, end = None, -1
    if end != len(text):
        value = json.loads(text)
    return "".join(_c_payload_encoder(value, 0)) if _c_payload_encoder else _encode_payload(value)


def _walk_sql(vendor: str, *, by_id: bool) -> str:
    """One range of the chain (``%s``: first and last seq) as raw rows in ``_FIELDS`` order."""
    table = AuditEvent._meta.db_table
    if vendor == "postgresql":
        created, payload = _PG_UTC_TEXT % {"expressions": "created_at"}, "payload::text"
    else:  # no declared type on an expression, so SQLite hands over the stored text
        created, payload = "CAST(created_at AS TEXT)", "payload"
    # ``+seq``: SQLite then reads the table in rowid order instead of through the seq index.
    where, order = ("+seq BETWEEN %s AND %s", "id") if by_id else ("seq BETWEEN %s AND %s", "seq")
    return (
        f"SELECT seq, {created}, actor_name, action, object_type, object_id, model_name, "  # noqa: S608
        f"{payload}, prev_hash, hash FROM {table} WHERE {where} ORDER BY {order}"
    )


def _walk_chunks(first: int, last: int, *, by_id: bool = False) -> Iterator[list[tuple]]:
    """The stored events with ``first <= seq <= last`` in chunks of raw rows, in seq order
    (or in rowid order, ``by_id``, which SQLite reads faster and which is the chain's order
    whenever events were appended one after another)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(_walk_sql(connection.vendor, by_id=by_id), [first, last])
        while chunk := cursor.fetchmany(_WALK_CHUNK):
            yield chunk


def _walk(
    chunks: Iterable[list[tuple]], prev_seq: int, prev_hash: str, *, sqlite: bool
) -> ChainReport:
    """``verify_events`` over raw rows: the same checks in the same order, the same hashed
    bytes, without building a dict per event.

    The hashed body is ``_canonical_body``'s: orjson writes it (the fields in sorted order,
    the payload spliced in as the bytes ``_fast_payload`` vetted), or, where that payload
    could differ, the json module does. A field that is not text makes orjson raise, and
    that event then takes the json module's path too.
    """
    checked = 0
    sha256, quote, utc, slow = hashlib.sha256, _quote, _utc_text, _slow_payload
    loads, dumps, fragment, sort_keys = _orjson_loads, _orjson_dumps, _Fragment, _SORT_KEYS
    orjson_errors, exponent = _ORJSON_ERRORS, _EXPONENT.search
    out: bytes | None
    for chunk in chunks:
        for seq, created, actor, action, otype, oid, model, payload, prev, digest in chunk:
            if seq != prev_seq + 1:
                reason = f"expected sequence number {prev_seq + 1}, found {seq}"
                return ChainReport(checked, prev_seq, prev_hash, ChainBreak(seq, reason))
            if prev != prev_hash:
                reason = "prev_hash does not match the previous event's hash"
                return ChainReport(checked, prev_seq, prev_hash, ChainBreak(seq, reason))
            try:
                if sqlite:
                    if len(created) == 26 and created[10] == " ":
                        created = f"{created[:10]}T{created[11:]}Z"
                    else:
                        created = utc(created)
                    if type(payload) is str:  # first, the stored text as it is (see above)
                        body = (
                            f'{{"action":{quote(action)},"actor":{quote(actor)},'
                            f'"created_at":{quote(created)},"model":{quote(model)},'
                            f'"object_id":{quote(oid)},"object_type":{quote(otype)},'
                            f'"payload":{payload},"prev_hash":"{prev}","seq":{seq}}}'
                        ).encode()
                        if sha256(body).hexdigest() == digest:
                            prev_seq, prev_hash = seq, digest
                            checked += 1
                            continue
                try:  # _fast_payload inlined
                    if type(payload) is not str:
                        raise TypeError("not text")
                    out = dumps(loads(payload), option=sort_keys)
                    if b"0.0000" in out or ((b"e-" in out or b"e+" in out) and exponent(out)):
                        out = None
                    else:
                        body = dumps(
                            {
                                "action": action,
                                "actor": actor,
                                "created_at": created,
                                "model": model,
                                "object_id": oid,
                                "object_type": otype,
                                "payload": fragment(out),
                                "prev_hash": prev,
                                "seq": seq,
                            }
                        )
                except orjson_errors:
                    out = None
                if out is None:
                    body = (
                        f'{{"action":{quote(action)},"actor":{quote(actor)},'
                        f'"created_at":{quote(created)},"model":{quote(model)},'
                        f'"object_id":{quote(oid)},"object_type":{quote(otype)},'
                        f'"payload":{slow(payload)},"prev_hash":"{prev}","seq":{seq}}}'
                    ).encode()
                intact = sha256(body).hexdigest() == digest
            except (TypeError, ValueError):  # not text, not JSON, NaN: it was never hashed
                intact = False
            if not intact:
                reason = "content does not match its hash (the event was altered)"
                return ChainReport(checked, prev_seq, prev_hash, ChainBreak(seq, reason))
            prev_seq, prev_hash = seq, digest
            checked += 1
    return ChainReport(checked, prev_seq, prev_hash, None)


def _walk_whole(last: int) -> ChainReport:
    """The chain from its genesis up to ``last`` in this process."""
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        # Rowid order is seq order unless rows were inserted out of turn; a walk that holds
        # in rowid order saw seq 1, 2, ... last, which is the seq order, so its answer stands.
        report = _walk(_walk_chunks(1, last, by_id=True), 0, GENESIS_HASH, sqlite=True)
        if report.ok:
            return report
    return _walk(_walk_chunks(1, last), 0, GENESIS_HASH, sqlite=sqlite)


@dataclass(frozen=True)
class _Segment:
    """One range of seq walked on its own, anchored at its own first event, whose link to
    the range before it the caller checks."""

    first_seq: int | None  # None: no event in the range
    first_prev: str
    report: ChainReport


def _walk_segment(bounds: tuple[int, int]) -> _Segment:
    """Walk the events in one range of seq (in a worker process).

    PostgreSQL's server-side cursor lives in a transaction. SQLite's reads need none (each
    query reads one snapshot), and a transaction there would take the write lock
    (``transaction_mode`` IMMEDIATE): the workers would walk one after another, and one
    waiting longer than the lock timeout failed with "database is locked"."""
    if connection.vendor != "postgresql":
        return _walk_range(*bounds)
    with transaction.atomic():
        return _walk_range(*bounds)


def _walk_range(first: int, last: int) -> _Segment:
    sqlite = connection.vendor == "sqlite"
    chunks = _walk_chunks(first, last)
    head = next(chunks, None)
    if not head:
        return _Segment(None, "", ChainReport(0, first - 1, "", None))
    seq, prev = head[0][0], head[0][8]
    report = _walk(itertools.chain([head], chunks), seq - 1, prev, sqlite=sqlite)
    return _Segment(seq, prev, report)


def _segments_join(segments: Iterable[_Segment]) -> ChainReport:
    """The report one walk over the whole range would give, from its segments in order: each
    segment's first event must follow the previous segment's last one (number and link)."""
    checked, prev_seq, prev_hash = 0, 0, GENESIS_HASH
    for segment in segments:
        if segment.first_seq is None:
            continue
        seq, report = segment.first_seq, segment.report
        if seq != prev_seq + 1:
            reason = f"expected sequence number {prev_seq + 1}, found {seq}"
            return ChainReport(checked, prev_seq, prev_hash, ChainBreak(seq, reason))
        if segment.first_prev != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
            return ChainReport(checked, prev_seq, prev_hash, ChainBreak(seq, reason))
        checked += report.checked
        if not report.ok:
            return ChainReport(checked, report.last_seq, report.last_hash, report.first_break)
        prev_seq, prev_hash = report.last_seq, report.last_hash
    return ChainReport(checked, prev_seq, prev_hash, None)


def _segment_bounds(last: int, parts: int) -> list[tuple[int, int]]:
    size = max(1, -(-last // parts))
    return [(first, min(first + size - 1, last)) for first in range(1, last + 1, size)]


def _walk_parallel(last: int, jobs: int) -> ChainReport:
    """The chain up to ``last`` walked by ``jobs`` processes, each over ranges of seq."""
    bounds = _segment_bounds(last, jobs * 4)
    connections.close_all()  # each child opens its own connection
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs) as pool:
        return _segments_join(pool.imap(_walk_segment, bounds))


def _can_fork() -> bool:
    """Whether worker processes could read the chain: not inside a transaction (they would
    not see its writes) and not from a database that lives in this process's memory."""
    if connection.in_atomic_block or "fork" not in multiprocessing.get_all_start_methods():
        return False
    in_memory = getattr(connection, "is_in_memory_db", lambda: False)  # SQLite's wrapper only
    return not in_memory()


def audit_verify(*, jobs: int = 1) -> ChainReport:
    """Walk the whole stored chain and check it ends at the recorded head.

    The head is read first and the walk stops there: events appended meanwhile (their head
    update commits with them) are not mistaken for a break. On PostgreSQL the head is read in
    one REPEATABLE READ snapshot when it can, so an event beyond the head is then a forgery.
    ``jobs`` > 1 walks ranges of the chain in that many processes (events up to the head are
    never changed, so each may read its own snapshot); where processes cannot see this
    connection's data (inside a transaction, an in-memory database) it walks in this one.
    """
    parallel = jobs > 1 and _can_fork()
    with transaction.atomic():
        snapshot = _begin_snapshot()
        head = AuditChainHead.objects.get(pk=1)
        report = None if parallel else _walk_whole(head.seq)
        beyond = (
            AuditEvent.objects.filter(seq__gt=head.seq).order_by("seq").first()
            if snapshot
            else None
        )
    if report is None:
        report = _walk_parallel(head.seq, jobs)
    if report.ok and (head.seq, head.hash) != (report.last_seq, report.last_hash):
        reason = f"the chain ends at #{report.last_seq} but the head records #{head.seq}"
        return ChainReport(
            report.checked, report.last_seq, report.last_hash, ChainBreak(head.seq, reason)
        )
    if report.ok and beyond is not None:
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
