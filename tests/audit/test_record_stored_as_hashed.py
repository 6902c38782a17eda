"""What an event hashes is what the database stores and gives back, on SQLite and PostgreSQL
alike: values that jsonb cannot hold as written (negative zero, a float written with an
exponent, NUL, a lone surrogate) are put in the form jsonb gives back before they are hashed,
so the event verifies wherever it is read."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from registry.audit.chain import audit_verify, canonical_json, event_content, event_hash
from registry.audit.record import audit_record
from registry.models import AuditEvent

# (recorded payload, the payload hashed and stored)
CASES = {
    "negative zero": ({"x": -0.0, "l": [-0.0, 0.0]}, {"x": 0.0, "l": [0.0, 0.0]}),
    "a float from 1e16 up": ({"x": 1e16, "y": -2.5e20}, {"x": 10**16, "y": -(25 * 10**19)}),
    "the float's written digits, not its binary value": (
        {"x": 1.2345678901234568e29},
        {"x": 123456789012345680000000000000},
    ),
    "floats below 1e16 and small ones stay floats": (
        {"x": [1.5e15, 1e-07, 2.5e-05, 0.1, 1.0, 5e-324]},
        {"x": [1.5e15, 1e-07, 2.5e-05, 0.1, 1.0, 5e-324]},
    ),
    "NUL in a value and a key": ({"a\x00": "b\x00c"}, {"a\ufffd": "b\ufffdc"}),
    "a lone surrogate": ({"x": ["\ud800", "a\udfffb"]}, {"x": ["\ufffd", "a\ufffdb"]}),
    "a surrogate pair is the character it spells": ({"x": "\ud83d\ude00"}, {"x": "😀"}),
    "keys JSON writes alike: the last one kept": ({1: "a", "1": "b"}, {"1": "b"}),
    "nested": (
        {"a": [{"b": -0.0, "c\x00": [1e300]}], "d": "é☃"},
        {"a": [{"b": 0.0, "c\ufffd": [10**300]}], "d": "é☃"},
    ),
}


def record(payload: dict) -> AuditEvent:
    with transaction.atomic():
        return audit_record(actor=None, action="test.event", payload=payload)


@pytest.mark.parametrize(("recorded", "stored"), CASES.values(), ids=CASES.keys())
def test_the_payload_hashed_is_the_one_stored(db, recorded, stored):
    event = record(recorded)
    fresh = AuditEvent.objects.get(pk=event.pk)

    assert event.payload == stored
    assert fresh.payload == stored
    # 0.0 and not -0.0, an int and not a float
    assert canonical_json(fresh.payload) == canonical_json(stored)
    assert event_hash(event_content(fresh)) == fresh.hash
    assert audit_verify().ok


@pytest.mark.postgres
def test_postgres_jsonb_keeps_every_recorded_payload_verifiable(db):
    """Before: jsonb stored -0.0 as 0.0 and 1e16 as 10000000000000000, the event hashed the
    other spelling and never verified; a NUL made the insert fail."""
    if connection.vendor != "postgresql":
        pytest.skip("jsonb's normalisations are PostgreSQL's")
    for recorded, _ in CASES.values():
        record(recorded)

    report = audit_verify()

    assert report.ok, report.first_break
    assert report.checked == AuditEvent.objects.count()
