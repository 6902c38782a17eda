"""The two file formats of the trail, one event row at a time: CSV (every cell through the
formula guard) and JSON Lines. Rows are ``chain.iter_event_rows`` tuples."""

from __future__ import annotations

import re
from json.encoder import encode_basestring as _quote

from ..offline import CSV_GUARDED_LEADS, EVENT_COLUMNS, csv_guard

# The columns of both files, named as in the hashed content so each line verifies as is.
EXPORT_COLUMNS = EVENT_COLUMNS
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}

_NEEDS_QUOTES = re.compile(r'[",\r\n]')
CSV_HEADER = ",".join(EXPORT_COLUMNS) + "\n"


def _cell(value: str) -> str:
    """A CSV cell as csv.writer writes it (excel dialect, minimal quoting), ten times faster."""
    return '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value


def csv_line(row: tuple) -> str:
    """One event row (``iter_event_rows``) as a CSV line; the payload is its JSON text.
    Every text cell passes through ``csv_guard``, then is quoted where CSV needs it."""
    seq, created, actor, action, otype, oid, model, payload, prev, digest = row
    plain = (created, actor, action, otype, oid, model, prev, digest)
    firsts = (created[:1], actor[:1], action[:1], otype[:1], oid[:1], model[:1], payload[:1])
    if not CSV_GUARDED_LEADS.isdisjoint((*firsts, prev[:1], digest[:1])):  # rare
        created, actor, action, otype, oid, model, prev, digest = map(csv_guard, plain)
        payload = csv_guard(payload)
        plain = (created, actor, action, otype, oid, model, prev, digest)
    if _NEEDS_QUOTES.search("".join(plain)):  # rare: quote cell by cell
        created, actor, action, otype, oid, model, prev, digest = map(_cell, plain)
    return (
        f"{seq},{created},{actor},{action},{otype},{oid},{model},{_cell(payload)},{prev},{digest}\n"
    )


def jsonl_line(row: tuple) -> str:
    """One event row as a JSON line in column order, the stored payload JSON written as is."""
    seq, created, actor, action, otype, oid, model, payload, prev, digest = row
    return (
        f'{{"seq":{seq},"created_at":{_quote(created)},"actor":{_quote(actor)},'
        f'"action":{_quote(action)},"object_type":{_quote(otype)},"object_id":{_quote(oid)},'
        f'"model":{_quote(model)},"payload":{payload},"prev_hash":{_quote(prev)},'
        f'"hash":{_quote(digest)}}}\n'
    )


LINE_ENCODERS = {"csv": csv_line, "jsonl": jsonl_line}
