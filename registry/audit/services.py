"""The audited actions on the trail itself: exporting it and verifying the chain. Each checks
its own access and records itself on the chain."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction

from ..errors import InvalidInput
from ..models import AuditEvent
from ..permissions import can_export_audit, can_verify_chain, require
from ..selectors import audit_events_visible_to
from ..types import Actor
from .anchors import Anchor, chain_anchor
from .chain import ChainReport, audit_verify
from .encoders import FORMATS
from .exports import AuditExport, export_chunks, export_filename
from .filters import AuditFilters
from .record import audit_record

EXPORT_REFUSED = "Only auditors and admins export the audit trail."
VERIFY_REFUSED = "Only auditors and admins verify the chain."
HEAD_REFUSED = "Only auditors and admins read the chain head."


def audit_export(*, actor: Actor, fmt: str, filters: AuditFilters, via: str) -> AuditExport:
    """Record that ``actor`` exports the events they may see that match ``filters``, then
    hand over the file to stream (the web page and the API)."""
    require(can_export_audit(actor), EXPORT_REFUSED)
    if fmt not in FORMATS:
        raise InvalidInput.for_field("format", "Choose csv or jsonl.")
    audit_export_record(actor=actor, fmt=fmt, filters=filters, via=via)
    events = filters.apply(audit_events_visible_to(actor))
    return AuditExport(
        filename=export_filename(fmt, filters),
        content_type=FORMATS[fmt],
        chunks=export_chunks(events, fmt),
    )


def audit_export_record(*, actor: Actor, fmt: str, filters: AuditFilters, via: str) -> AuditEvent:
    """Record that ``actor`` exported the trail with ``filters``; committed before any row
    is sent, so an export that is cut off half way is still on record."""
    require(can_export_audit(actor), EXPORT_REFUSED)
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
    require(can_verify_chain(actor), VERIFY_REFUSED)
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


def audit_head(*, actor: Actor) -> Anchor:
    """The chain's head now, as an anchor to keep: ``audit_verify --anchor`` later fails if the
    chain no longer holds it (auditors and admins)."""
    require(can_verify_chain(actor), HEAD_REFUSED)
    return chain_anchor()
