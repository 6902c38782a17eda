"""Anchors: points of the chain an auditor keeps outside Gatehouse, to notice later that the
stored chain was truncated or rewritten (for example restored from an older backup)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..models import AuditEvent
from .chain import GENESIS_HASH, canonical_json, format_time
from .selectors import chain_head

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
