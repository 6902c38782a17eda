"""The trail as a file: CSV or JSONL streamed from the database in constant memory, and the
download that carries it (the web page and the API)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from ..models import AuditEvent
from .chain import iter_event_chunks
from .encoders import CSV_HEADER, FORMATS, LINE_ENCODERS
from .filters import AuditFilters

CHUNK_ROWS = 2000


def _chunks(queryset: QuerySet[AuditEvent], chunk_size: int) -> Iterator[list[tuple]]:
    connection = connections[queryset.db]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Inside a transaction the server-side cursor streams; outside one it is declared
        # WITH HOLD, and PostgreSQL materialises the whole result before the first row.
        with transaction.atomic(using=queryset.db):
            yield from iter_event_chunks(queryset, chunk_size=chunk_size)
    else:
        # On SQLite an atomic block would take the write lock for the whole download.
        yield from iter_event_chunks(queryset, chunk_size=chunk_size)


def export_chunks(
    queryset: QuerySet[AuditEvent], fmt: str, *, chunk_size: int = CHUNK_ROWS
) -> Iterator[bytes]:
    """The events of ``queryset`` in chain order as CSV or JSONL, ``chunk_size`` rows per
    chunk (as the cursor fetches them): memory stays flat whatever the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    line = LINE_ENCODERS[fmt]
    if fmt == "csv":
        yield CSV_HEADER.encode()
    for rows in _chunks(queryset, chunk_size):
        yield "".join(map(line, rows)).encode()


def export_filename(fmt: str, filters: AuditFilters, moment: datetime | None = None) -> str:
    moment = moment or timezone.now()
    scope = f"-{filters.model}" if filters.model else ""
    return f"audit{scope}-{moment:%Y%m%dT%H%M%SZ}.{fmt}"


@dataclass(frozen=True)
class AuditExport:
    """An export already on record: the file's name and type, and its chunks (read lazily,
    as the download is sent)."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]


def export_response(export: AuditExport) -> StreamingHttpResponse:
    """The export as a streamed download."""
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
