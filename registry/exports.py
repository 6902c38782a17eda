"""The audit trail for people and files: filters shared by the page, the export and the API,
keyset pages, CSV and JSONL streamed from the database in constant memory, and the audited
export and verification services."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from json.encoder import encode_basestring as _quote
from typing import Any

from django import forms
from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .audit import audit_record, audit_verify, iter_event_rows
from .audit_chain import GENESIS_HASH, ChainReport, canonical_json, format_time
from .models import AuditChainHead, AuditEvent
from .offline import CSV_GUARDED_LEADS, EVENT_COLUMNS, csv_guard
from .roles import has_capability
from .types import Actor, AnyUser

# The columns of both files, named as in the hashed content so each line verifies as is.
EXPORT_COLUMNS = EVENT_COLUMNS
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
PAGE_SIZE = 50
CHUNK_ROWS = 2000
_ONE_MICROSECOND = timedelta(microseconds=1)


def can_export(user: AnyUser) -> bool:
    """Auditors and admins read the whole trail, verify it and export it."""
    return has_capability(user, "can_export")


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What a person asked to see: exact model and actor, an action (``version.`` is a
    prefix), and a time range ``[since, until)``."""

    model: str = ""
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None
    raw_from: str = ""
    raw_to: str = ""

    def apply(self, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.model:
            queryset = queryset.filter(model_name=self.model)
        if self.actor:
            queryset = queryset.filter(actor_name=self.actor)
        if self.action.endswith("."):
            queryset = queryset.filter(action__startswith=self.action)
        elif self.action:
            queryset = queryset.filter(action=self.action)
        if self.since is not None:
            queryset = queryset.filter(created_at__gte=self.since)
        if self.until is not None:
            queryset = queryset.filter(created_at__lt=self.until)
        return queryset

    def as_payload(self) -> dict[str, str]:
        """The filters as given, for the audit event that records an export."""
        given = {
            "model": self.model,
            "actor": self.actor,
            "action": self.action,
            "from": self.raw_from,
            "to": self.raw_to,
        }
        return {key: value for key, value in given.items() if value}

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them."""
        return self.as_payload()


def parse_bound(text: str, *, end: bool) -> datetime:
    """A date (the whole day, in the server's time zone) or an ISO 8601 date and time.

    Returns the inclusive start for ``from`` and the exclusive end for ``to``.
    """
    text = text.strip()
    moment: datetime | None
    try:
        day = parse_date(text) if len(text) <= 10 else None
        moment = None if day else parse_datetime(text.replace(" ", "T", 1))
    except ValueError:
        day, moment = None, None
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, dtime.min))
        return start + timedelta(days=1) if end else start
    if moment is None:
        raise forms.ValidationError(
            "Enter a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM[:SS][+zone]).",
            code="invalid",
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment + _ONE_MICROSECOND if end else moment


class AuditFilterForm(forms.Form):
    """The filters and the page cursor, from a query string; errors name their field."""

    model = forms.CharField(
        required=False,
        max_length=100,
        label="Model",
        widget=forms.TextInput(attrs={"list": "audit-models", "autocomplete": "off"}),
    )
    actor = forms.CharField(
        required=False,
        max_length=200,
        label="Actor",
        widget=forms.TextInput(attrs={"list": "audit-actors", "autocomplete": "off"}),
    )
    action = forms.CharField(
        required=False,
        max_length=100,
        label="Action",
        help_text="Exact, or a prefix ending in a dot: version.",
        widget=forms.TextInput(attrs={"list": "audit-actions", "autocomplete": "off"}),
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" and "to" are Python keywords, hence added here rather than declared.
        self.fields["from"] = forms.CharField(
            required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.CharField(
            required=False,
            label="To",
            widget=forms.DateInput(attrs={"type": "date"}),
            help_text="Inclusive",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name, end in (("from", False), ("to", True)):
            text = (data.get(name) or "").strip()
            data[f"{name}_bound"] = None
            if text and name not in self.errors:
                try:
                    data[f"{name}_bound"] = parse_bound(text, end=end)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        since, until = data.get("from_bound"), data.get("to_bound")
        if since is not None and until is not None and until <= since:
            self.add_error("to", "Must not be before “From”.")
        if data.get("before") is not None and data.get("after") is not None:
            self.add_error("before", "Give either before or after, not both.")
        return data

    def filters(self) -> AuditFilters:
        """The validated filters; call after ``is_valid()``."""
        data = self.cleaned_data
        return AuditFilters(
            model=data.get("model", "").strip(),
            actor=data.get("actor", "").strip(),
            action=data.get("action", "").strip(),
            since=data.get("from_bound"),
            until=data.get("to_bound"),
            raw_from=(data.get("from") or "").strip(),
            raw_to=(data.get("to") or "").strip(),
        )

    def field_errors(self) -> dict[str, list[str]]:
        return {field: [str(m) for m in messages] for field, messages in self.errors.items()}


# --- keyset pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    """One page of events, newest first, and the cursors to the pages next to it."""

    events: list[AuditEvent]
    newer: int | None  # ?after= for the newer page
    older: int | None  # ?before= for the older page


def audit_page(
    queryset: QuerySet[AuditEvent],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """A page by sequence number: never OFFSET, never COUNT; one query, plus one EXISTS
    when the page was reached from a cursor."""
    if after is not None:
        rows = list(queryset.filter(seq__gt=after).order_by("seq")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        bound = rows[-1].seq if rows else after + 1
        more_older = queryset.filter(seq__lt=bound).exists()
    else:
        page = queryset.order_by("-seq")
        if before is not None:
            page = page.filter(seq__lt=before)
        rows = list(page[: size + 1])
        more_older = len(rows) > size
        rows = rows[:size]
        more_newer = before is not None and (
            queryset.filter(seq__gt=rows[0].seq if rows else before - 1).exists()
        )
    return AuditPage(
        events=rows,
        newer=rows[0].seq if rows and more_newer else None,
        older=rows[-1].seq if rows and more_older else None,
    )


def recent_values(queryset: QuerySet[AuditEvent], field: str, window: int = 2000) -> list[str]:
    """Distinct values of ``field`` among the newest events: choices for the filter inputs
    without scanning the table."""
    newest = queryset.order_by("-seq").values_list(field, flat=True)[:window]
    return sorted({value for value in newest if value})


def chain_head() -> AuditChainHead:
    """Where the chain ends now."""
    return AuditChainHead.objects.get(pk=1)


# --- files ---------------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[",\r\n]')
_HEADER = ",".join(EXPORT_COLUMNS) + "\n"


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


def _rows(queryset: QuerySet[AuditEvent], chunk_size: int) -> Iterator[tuple]:
    connection = connections[queryset.db]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Inside a transaction the server-side cursor streams; outside one it is declared
        # WITH HOLD, and PostgreSQL materialises the whole result before the first row.
        with transaction.atomic(using=queryset.db):
            yield from iter_event_rows(queryset, chunk_size=chunk_size)
    else:
        # On SQLite an atomic block would take the write lock for the whole download.
        yield from iter_event_rows(queryset, chunk_size=chunk_size)


def export_chunks(
    queryset: QuerySet[AuditEvent], fmt: str, *, chunk_size: int = CHUNK_ROWS
) -> Iterator[bytes]:
    """The events of ``queryset`` in chain order as CSV or JSONL, ``chunk_size`` rows per
    chunk: memory stays flat whatever the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    line = csv_line if fmt == "csv" else jsonl_line
    if fmt == "csv":
        yield _HEADER.encode()
    lines: list[str] = []
    for row in _rows(queryset, chunk_size):
        lines.append(line(row))
        if len(lines) >= chunk_size:
            yield "".join(lines).encode()
            lines.clear()
    if lines:
        yield "".join(lines).encode()


def export_filename(fmt: str, filters: AuditFilters, moment: datetime | None = None) -> str:
    moment = moment or timezone.now()
    scope = f"-{filters.model}" if filters.model else ""
    return f"audit{scope}-{moment:%Y%m%dT%H%M%SZ}.{fmt}"


# --- audited actions -----------------------------------------------------------------------


def export_response(
    *, actor: Actor, events: QuerySet[AuditEvent], fmt: str, filters: AuditFilters, via: str
) -> StreamingHttpResponse:
    """Record the export, then stream ``events`` as a download (the web page and the API)."""
    audit_export_record(actor=actor, fmt=fmt, filters=filters, via=via)
    response = StreamingHttpResponse(
        export_chunks(filters.apply(events), fmt), content_type=FORMATS[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt, filters)}"'
    response["Cache-Control"] = "no-store"
    return response


def audit_export_record(*, actor: Actor, fmt: str, filters: AuditFilters, via: str) -> AuditEvent:
    """Record that ``actor`` exported the trail with ``filters``; committed before any row
    is sent, so an export that is cut off half way is still on record."""
    with transaction.atomic():
        return audit_record(
            actor=actor,
            action="audit.exported",
            object_type="registry.auditevent",
            model_name=filters.model,
            payload={"format": fmt, "filters": filters.as_payload(), "via": via},
        )


@dataclass(frozen=True)
class Verification:
    """A chain walk and how long it took."""

    report: ChainReport
    seconds: float

    @property
    def rate(self) -> float:
        return self.report.checked / self.seconds if self.seconds > 0 else 0.0


def audit_chain_verify(*, actor: Actor) -> Verification:
    """Walk the whole chain now, then record the outcome as an ``audit.verified`` event."""
    started = time.perf_counter()
    report = audit_verify()
    seconds = time.perf_counter() - started
    brk = report.first_break
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="audit.verified",
            object_type="registry.auditevent",
            payload={
                "ok": report.ok,
                "checked": report.checked,
                "last_seq": report.last_seq,
                "last_hash": report.last_hash,
                "break": {"seq": brk.seq, "reason": brk.reason} if brk else None,
                "seconds": round(seconds, 3),
            },
        )
    return Verification(report, seconds)


# --- anchors: what an auditor keeps to notice a truncated or restored chain ----------------

_ANCHOR_TEXT = re.compile(r"^(\d+):([0-9a-f]{64})$")


@dataclass(frozen=True)
class Anchor:
    """A point of the chain kept outside Gatehouse: event ``seq`` had ``hash`` (at ``at``)."""

    seq: int
    hash: str
    at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at}

    def line(self) -> str:
        """The anchor as one JSON line (what ``audit_head`` prints)."""
        return canonical_json(self.as_dict())

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:16]}…" + (f" of {self.at}" if self.at else "")


def chain_anchor() -> Anchor:
    """The head of the chain now: the last event's seq, hash and time."""
    head = chain_head()
    at = AuditEvent.objects.filter(seq=head.seq).values_list("created_at", flat=True).first()
    return Anchor(head.seq, head.hash, format_time(at) if at else None)


def anchor_parse(text: str) -> Anchor:
    """``SEQ:HASH`` as given on a command line."""
    match = _ANCHOR_TEXT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not SEQ:HASH (a number, a colon, 64 hex digits)")
    return Anchor(int(match[1]), match[2])


def _anchor_from(value: Any) -> Anchor:
    if isinstance(value, dict) and isinstance(value.get("audit"), dict):
        value = value["audit"].get("head")  # a bundle's manifest.json
    if not isinstance(value, dict):
        raise ValueError("not an anchor object")
    seq, digest, at = value.get("seq"), value.get("hash"), value.get("at")
    if type(seq) is not int or seq < 0 or not isinstance(digest, str):
        raise ValueError("an anchor needs an integer seq and a hash")
    if not _ANCHOR_TEXT.match(f"{seq}:{digest}"):
        raise ValueError(f"hash {digest!r} is not 64 lowercase hex digits")
    return Anchor(seq, digest, at if isinstance(at, str) else None)


def anchors_read(text: str) -> list[Anchor]:
    """Anchors from a file: JSON lines as ``audit_head`` prints them, or a bundle's
    ``manifest.json`` (its ``audit.head``)."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None  # not one JSON document: JSON lines
    if document is not None:
        return [_anchor_from(document)]
    anchors = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            anchors.append(_anchor_from(json.loads(line)))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from exc
    if not anchors:
        raise ValueError("no anchor in it")
    return anchors


def anchor_problems(anchors: list[Anchor]) -> list[str]:
    """For each anchor the stored chain no longer holds, why: the event is gone (the chain
    was truncated, e.g. restored from an older backup) or has another hash (rewritten)."""
    stored = dict(
        AuditEvent.objects.filter(seq__in={a.seq for a in anchors}).values_list("seq", "hash")
    )
    stored[0] = GENESIS_HASH
    head = chain_head()
    problems = []
    for anchor in anchors:
        found = stored.get(anchor.seq)
        if found is None:
            problems.append(
                f"anchor {anchor}: the stored chain ends at #{head.seq}, before the anchor. "
                "It was truncated, or restored from a backup older than the anchor."
            )
        elif found != anchor.hash:
            problems.append(
                f"anchor {anchor}: event #{anchor.seq} now has hash {found[:16]}…. The chain "
                "was rewritten from there on (restored from an older backup and written again?)."
            )
    return problems
