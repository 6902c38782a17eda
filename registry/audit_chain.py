"""Hashing and verification of the audit chain, in the Python standard library only.

The rules themselves (canonical JSON, the hashed fields, the event hash) live in
``registry/offline.py``, the module an auditor's offline verifier is a copy of; this module
adds the app's timestamp form and the fast walk over the stored chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .offline import HASHED_FIELDS, canonical_json, event_hash

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "ChainBreak",
    "ChainReport",
    "canonical_json",
    "event_hash",
    "format_time",
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
    # c_make_encoder is the C accelerator json.encoder imports when it can; typeshed omits it.
    if json.encoder.c_make_encoder is None:  # type: ignore[attr-defined]
        return _canonical_encode
    # markers, default, encoder, indent, key and item separators, sort_keys, skipkeys,
    # allow_nan. No markers: JSON read from a database cannot be circular. No default:
    # anything JSON cannot hold raises TypeError, and _canonical_body then takes the
    # generic path, which raises json's own error.
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    encoder = make(None, None, _quote, None, ":", ",", True, False, False)
    return lambda value: "".join(encoder(value, 0))


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
