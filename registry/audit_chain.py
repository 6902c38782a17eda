"""Hashing and verification of the audit chain, in the Python standard library only.

Kept free of Django so an auditor's offline verifier can use exactly the same rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "model",
    "payload",
    "prev_hash",
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, no NaN: the same bytes for the same content."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_time(moment: datetime) -> str:
    """UTC with microseconds, the one textual form a timestamp is hashed in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(content: Mapping[str, Any]) -> str:
    """The sha256 of an event's canonical content (the fields in HASHED_FIELDS)."""
    body = {name: content[name] for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


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


def verify_events(
    events: Iterable[Mapping[str, Any]], *, prev_hash: str = GENESIS_HASH, prev_seq: int = 0
) -> ChainReport:
    """Walk events in order (dicts with HASHED_FIELDS and ``hash``) and find the first break.

    ``prev_hash``/``prev_seq`` anchor a segment that does not start at the beginning.
    """
    checked = 0
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
        recomputed = event_hash(event)
        if recomputed != event["hash"]:
            return ChainReport(
                checked,
                prev_seq,
                prev_hash,
                ChainBreak(seq, "content does not match its hash (the event was altered)"),
            )
        prev_hash, prev_seq = event["hash"], seq
        checked += 1
    return ChainReport(checked, prev_seq, prev_hash, None)
