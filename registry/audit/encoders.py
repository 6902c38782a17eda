"""The two file formats of the trail, one event row at a time: CSV (every cell through the
formula guard) and JSON Lines. Rows are ``chain.iter_event_rows`` tuples."""

from __future__ import annotations

from json.encoder import encode_basestring as _quote

from ..offline import CSV_GUARDED_LEADS, EVENT_COLUMNS, csv_guard

# The columns of both files, named as in the hashed content so each line verifies as is.
EXPORT_COLUMNS = EVENT_COLUMNS
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}

CSV_HEADER = ",".join(EXPORT_COLUMNS) + "\n"


def _cell(value: str) -> str:
    """A CSV cell as csv.writer writes it (excel dialect, minimal quoting), ten times faster
    (``in`` looks, no regular expression: this runs for every payload)."""
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(row: tuple) -> str:
    """One event row (``iter_event_rows``) as a CSV line; the payload is its JSON text.
    Every text cell passes through ``csv_guard``, then is quoted where CSV needs it.

    The common row is told by a few looks at its plain cells joined: no comma inside a cell
    (seven separators exactly), no quote or line break, no cell starting like a formula; it
    then needs neither guard nor quotes, and only the payload may need quoting. Any other
    row is written cell by cell."""
    seq, created, actor, action, otype, oid, model, payload, prev, digest = row
    plain = f"{created},{actor},{action},{otype},{oid},{model},{prev},{digest}"
    if (
        plain.count(",") == 7
        and '"' not in plain
        and "\n" not in plain
        and "\r" not in plain
        and ",=" not in plain  # no cell after the first begins like a formula
        and ",+" not in plain
        and ",-" not in plain
        and ",@" not in plain
        and ",\t" not in plain
        and ",'" not in plain
        and plain[:1] not in CSV_GUARDED_LEADS
        and payload[:1] not in CSV_GUARDED_LEADS
    ):
        return (
            f"{seq},{created},{actor},{action},{otype},{oid},{model},{_cell(payload)},"
            f"{prev},{digest}\n"
        )
    return _csv_line_guarded(row)


def _csv_line_guarded(row: tuple) -> str:
    """``csv_line`` cell by cell: each text cell through ``csv_guard``, then quoted where
    CSV needs it."""
    seq, created, actor, action, otype, oid, model, payload, prev, digest = row
    created, actor, action, otype, oid, model, prev, digest = (
        _cell(csv_guard(cell)) for cell in (created, actor, action, otype, oid, model, prev, digest)
    )
    payload = _cell(csv_guard(payload))
    return f"{seq},{created},{actor},{action},{otype},{oid},{model},{payload},{prev},{digest}\n"


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
