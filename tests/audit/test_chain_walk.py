"""The fast chain walk (raw rows, ranges in parallel) finds exactly what the offline rule finds:
a stored payload spelled differently but holding the same value is intact, a changed value is a
break, however small; and the ranges walked apart join into the report of one walk."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from registry.audit import chain
from registry.audit.chain import GENESIS_HASH, audit_verify, event_content, event_hash
from registry.audit.record import audit_record
from registry.models import AuditEvent
from tests.registry.test_audit import tamper

PAYLOAD = {
    "zeta": 1,
    "alpha": {"b": [0.5, 1.0, 1e-07, 12345678901234567890], "a": None},
    "note": 'Ré-entraîné ☃ "quoted" \\ tab\t',
    "flag": True,
}
EVENTS = 7
TARGET = 4  # the event whose stored payload text the tests rewrite


@pytest.fixture
def chain_events(db) -> list[AuditEvent]:
    with transaction.atomic():
        for n in range(EVENTS):
            audit_record(actor=None, action="test.event", payload={**PAYLOAD, "n": n})
    return list(AuditEvent.objects.order_by("seq"))


def stored_as(text: str) -> None:
    tamper("UPDATE registry_auditevent SET payload = %s WHERE seq = %s", [text, TARGET])


def offline_rule_holds() -> bool:
    """What the offline verifier computes: the stored payload decoded, hashed canonically."""
    event = AuditEvent.objects.get(seq=TARGET)
    return event_hash(event_content(event)) == event.hash


def walks_in_ranges(last: int, parts: int) -> chain.ChainReport:
    """The parallel walk's ranges, walked one after another in this connection."""
    bounds = chain._segment_bounds(last, parts)
    return chain._segments_join(chain._walk_range(first, end) for first, end in bounds)


SAME = {**PAYLOAD, "n": TARGET - 1}

# Other spellings of the same value: the hash holds (the canonical form is what is hashed).
SAME_VALUE = {
    "keys in another order": json.dumps(dict(reversed(list(SAME.items())))),
    "no spaces": json.dumps(SAME, separators=(",", ":")),
    "more spaces": json.dumps(SAME, indent=3),
    "raw unicode instead of escapes": json.dumps(SAME, ensure_ascii=False),
    "escapes spelled differently": json.dumps(SAME).replace("\\u00e9", "\\u00E9"),
    "a float spelled differently": json.dumps(SAME).replace("0.5", "5e-1"),
}
# A different value, however it is spelled: the event was altered.
OTHER_VALUE = {
    "a float turned int": json.dumps(SAME).replace("1.0,", "1,"),
    "a float one ulp away": json.dumps(SAME).replace("0.5", "0.5000000000000001"),
    "a small float changed": json.dumps(SAME).replace("1e-07", "1.1e-07"),
    "an escape naming another letter": json.dumps(SAME).replace("\\u00e9", "\\u00e8"),
    "a duplicate key overriding": json.dumps(SAME)[:-1] + ', "zeta": 2}',
    "a big int off by one": json.dumps(SAME).replace(
        "12345678901234567890", "12345678901234567891"
    ),
    "true for 1": json.dumps({**SAME, "zeta": True}),
    "a key's case": json.dumps(SAME).replace('"note"', '"Note"'),
}


@pytest.mark.parametrize("spelling", SAME_VALUE.values(), ids=SAME_VALUE.keys())
def test_the_same_value_spelled_differently_still_verifies(chain_events, spelling):
    assert json.loads(spelling) == SAME and spelling != json.dumps(SAME)
    stored_as(spelling)

    assert offline_rule_holds()
    assert audit_verify().ok
    assert walks_in_ranges(EVENTS, 3).ok


@pytest.mark.parametrize("spelling", OTHER_VALUE.values(), ids=OTHER_VALUE.keys())
def test_a_changed_value_breaks_the_chain_however_small(chain_events, spelling):
    stored_as(spelling)

    assert not offline_rule_holds()
    report = audit_verify()
    assert report.first_break.seq == TARGET
    assert "altered" in report.first_break.reason
    assert report.checked == TARGET - 1
    assert walks_in_ranges(EVENTS, 3) == report


def test_an_unreadable_payload_is_a_break_not_a_crash(chain_events):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps payloads as jsonb, which holds no NaN")
    with connection.cursor() as cursor:  # what a DBA could do: skip the JSON_VALID check
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            stored_as('{"x": NaN}')
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")

    report = audit_verify()
    assert report.first_break.seq == TARGET
    assert "altered" in report.first_break.reason


TAMPERING = {
    "intact": None,
    "an edited actor": ("UPDATE registry_auditevent SET actor_name = 'x' WHERE seq = 5", []),
    "the first event edited": ("UPDATE registry_auditevent SET action = 'x' WHERE seq = 1", []),
    "a deleted event": ("DELETE FROM registry_auditevent WHERE seq = 3", []),
    "the first event deleted": ("DELETE FROM registry_auditevent WHERE seq = 1", []),
    "a broken link": ("UPDATE registry_auditevent SET prev_hash = %s WHERE seq = 6", ["f" * 64]),
    "a quote in a link": ("UPDATE registry_auditevent SET prev_hash = '\"' WHERE seq = 4", []),
    "a renumbered event": ("UPDATE registry_auditevent SET seq = 100 WHERE seq = 7", []),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_ranges_walked_apart_report_what_one_walk_reports(chain_events, change):
    if change:
        tamper(*change)
    whole = chain._walk(chain._walk_chunks(1, EVENTS), 0, GENESIS_HASH, sqlite=False)
    if connection.vendor == "sqlite":
        whole = chain._walk(chain._walk_chunks(1, EVENTS), 0, GENESIS_HASH, sqlite=True)
    legacy = chain.verify_events(
        chain.iter_event_contents(AuditEvent.objects.filter(seq__lte=EVENTS))
    )

    assert whole == legacy
    for parts in (1, 2, 3, EVENTS, EVENTS + 5):
        assert walks_in_ranges(EVENTS, parts) == whole, parts


def test_rows_stored_out_of_turn_still_walk_in_seq_order(chain_events):
    # The walk reads SQLite in rowid order first; a row whose rowid is out of turn sends it
    # back to seq order instead of being reported as a break.
    tamper("UPDATE registry_auditevent SET id = id + 1000 WHERE seq = 2", [])

    report = audit_verify()
    assert report.ok
    assert report.checked == EVENTS


def test_the_command_takes_a_number_of_processes(chain_events):
    for jobs in ("1", "2", "0"):
        out = StringIO()
        call_command("audit_verify", "--jobs", jobs, stdout=out)
        assert f"Audit chain OK: {EVENTS} events" in out.getvalue()


def test_a_worker_walks_sqlite_without_taking_the_write_lock(transactional_db, monkeypatch):
    """SQLite's transactions take the write lock (IMMEDIATE): workers inside one walked one
    after another and, waiting past the lock timeout, failed with "database is locked"."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's worker needs its transaction for the server-side cursor")
    with transaction.atomic():
        audit_record(actor=None, action="test.event", payload={"n": 1})
    seen = []
    walk_range = chain._walk_range

    def watched(first: int, last: int) -> chain._Segment:
        seen.append(connection.in_atomic_block)
        return walk_range(first, last)

    monkeypatch.setattr(chain, "_walk_range", watched)
    segment = chain._walk_segment((1, 1))

    assert seen == [False]
    assert segment.report.ok
    assert segment.report.checked == 1


# --- SQLite: the bodies the database writes ------------------------------------------------


def test_a_payload_is_stored_as_the_text_its_hash_covers(chain_events):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps payloads as jsonb, in its own spelling")
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM registry_auditevent WHERE seq = %s", [TARGET])
        (stored,) = cursor.fetchone()

    assert stored == chain.canonical_json(SAME)


def parses_counted(monkeypatch) -> list[str]:
    """The payload texts the walk parses, however it parses them."""
    parsed: list[str] = []
    for name in ("_orjson_loads", "_slow_payload"):
        parse = getattr(chain, name)

        def counted(text, *args, parse=parse, **kwargs):
            parsed.append(text)
            return parse(text, *args, **kwargs)

        monkeypatch.setattr(chain, name, counted)
    return parsed


def test_sqlite_hashes_the_stored_text_without_parsing_it(chain_events, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps payloads as jsonb, in its own spelling")
    parsed = parses_counted(monkeypatch)
    report = audit_verify()

    assert report.ok
    assert report.checked == EVENTS
    assert walks_in_ranges(EVENTS, 3).ok
    assert parsed == []


# Fields stored in another form (SQLite stores any type in any column): the bodies SQLite
# writes come to exactly what the row-by-row walk decides, a break where the value changed,
# none where only its storage did (a time with another separator reads as the same time; a
# number stored as text in an integer column is stored as the number).
STORAGE_TAMPERING = {
    "the time's separator": (
        "SET created_at = substr(created_at, 1, 10) || 'x' || substr(created_at, 12)",
        False,
    ),
    "the time as bytes": ("SET created_at = CAST(created_at AS BLOB)", False),
    "the number as text": ("SET seq = CAST(seq AS TEXT)", False),
    "the payload as bytes": ("SET payload = CAST(payload AS BLOB)", True),
    "a name as bytes": ("SET actor_name = CAST(actor_name AS BLOB)", True),
    "a name as a number": ("SET object_id = 4", True),
    "the link as bytes": ("SET prev_hash = CAST(prev_hash AS BLOB)", True),
    "the hash as bytes": ("SET hash = CAST(hash AS BLOB)", True),
}


@pytest.mark.parametrize(
    ("change", "breaks"), STORAGE_TAMPERING.values(), ids=STORAGE_TAMPERING.keys()
)
def test_a_field_stored_in_another_form_is_judged_as_row_by_row(chain_events, change, breaks):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite stores any type in any column")
    tamper(f"UPDATE registry_auditevent {change} WHERE seq = {TARGET}", [])
    row_by_row = chain._walk(chain._walk_chunks(1, EVENTS), 0, GENESIS_HASH, sqlite=True)

    report = audit_verify()
    assert report == row_by_row
    assert walks_in_ranges(EVENTS, 3) == report
    assert report.ok is not breaks
    if breaks:  # a changed hash breaks the next event's link
        assert report.first_break.seq in (TARGET, TARGET + 1)


def test_events_stored_before_the_canonical_spelling_still_verify(chain_events, monkeypatch):
    """A chain recorded before the encoder (payloads as ``json.dumps`` wrote them) is parsed
    where it must be, and a change among those events is still a break."""
    for event in chain_events[:3]:
        tamper(
            "UPDATE registry_auditevent SET payload = %s WHERE seq = %s",
            [json.dumps(event.payload), event.seq],
        )
    parsed = parses_counted(monkeypatch)
    report = audit_verify()

    assert report.ok
    assert report.checked == EVENTS
    if connection.vendor == "sqlite":
        assert set(parsed) == {json.dumps(event.payload) for event in chain_events[:3]}
    tamper(
        "UPDATE registry_auditevent SET payload = %s WHERE seq = 2",
        [json.dumps({**chain_events[1].payload, "zeta": 2})],
    )
    assert audit_verify().first_break.seq == 2
