"""The audit log: a hash chain that verifies, that the database keeps append-only, that
betrays tampering at the first broken link, and that stays linear under concurrent writers."""

from __future__ import annotations

import importlib
import itertools
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from registry import services
from registry.audit.chain import GENESIS_HASH, audit_verify, event_content, event_hash
from registry.audit.record import audit_record
from registry.models import AuditChainHead, AuditEvent
from tests.audit.conftest import declared
from tests.builders import Candidate, race

MIGRATION = importlib.import_module("registry.migrations.0002_roles_and_chain_head")
TRIGGER = "registry_auditevent_append_only"


@pytest.fixture(autouse=True, scope="module")
def test_actions():
    """The actions only these tests record."""
    with declared(
        {
            "orphan.event": "A test event recorded outside a transaction",
            "doomed": "A test event rolled back",
            "kept": "A test event kept",
            "odd.types": "A test event with dates, decimals and UUIDs",
            "load.append": "A test event appended by concurrent writers",
        }
    ):
        yield


@pytest.fixture
def history(model, ci, engineer, reviewer):
    """A realistic run of actions: teams, people, a model, an objective, versions, tokens."""
    services.objective_create(
        actor=engineer,
        model=model,
        title="Cut manual review",
        kpis=[
            {"name": "Review rate", "metric_key": "review_rate", "comparator": "<=", "target": 0.3}
        ],
    )
    services.model_update(actor=engineer, model=model, title="Credit default (v2)")
    Candidate().register(actor=ci[0], model=model, token=ci[1])
    Candidate(version="1.1.0").register(actor=engineer, model=model)
    issued = services.token_issue(actor=reviewer, user=reviewer, name="laptop")
    services.token_revoke(actor=reviewer, token=issued.token)
    return list(AuditEvent.objects.order_by("seq"))


@contextmanager
def append_only_trigger_disabled():
    """What a DBA attacker does: switch off the trigger that refuses UPDATE and DELETE."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER {TRIGGER}")
        else:
            # A superuser skips ordinary triggers without DDL (ALTER TABLE would wait on the
            # test transaction's deferred foreign-key checks).
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if connection.vendor == "sqlite":
                cursor.execute(MIGRATION.SQLITE_FORWARD)
            else:
                cursor.execute("SET session_replication_role = origin")


def tamper(sql: str, params: list) -> None:
    with append_only_trigger_disabled() as cursor:
        cursor.execute(sql, params)


def verify_command() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


# --- an intact chain -----------------------------------------------------------------------


def test_a_history_of_actions_forms_a_verified_chain(history):
    actions = [e.action for e in history]
    assert actions[:3] == ["team.created", "user.created", "user.roles_assigned"]
    for action in (
        "model.created",
        "objective.created",
        "model.updated",
        "ci_account.created",
        "token.issued",
        "version.registered",
        "token.revoked",
    ):
        assert action in actions
    assert actions.count("version.registered") == 2

    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert history[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(history):
        assert event.prev_hash == previous.hash
    assert all(event_hash(event_content(e)) == e.hash for e in history)
    assert len({e.hash for e in history}) == len(history)

    head = AuditChainHead.objects.get()
    assert (head.seq, head.hash) == (history[-1].seq, history[-1].hash)
    report = audit_verify()
    assert report.ok
    assert report.checked == len(history)
    assert (report.last_seq, report.last_hash) == (head.seq, head.hash)


def test_events_record_who_did_what_to_which_object(history, model):
    created = AuditEvent.objects.get(action="model.created")
    system = AuditEvent.objects.get(action="ci_account.created")

    assert (created.actor_name, created.actor.username) == ("eng", "eng")
    assert created.object_type == "registry.registeredmodel"
    assert created.object_id == str(model.pk)
    assert created.model_name == "credit-default"
    assert (system.actor_name, system.actor) == ("system", None)


def test_the_command_reports_an_intact_chain(history):
    output = verify_command()

    assert f"Audit chain OK: {len(history)} events, head #{len(history)}" in output
    assert history[-1].hash[:16] in output


def test_an_empty_chain_verifies(db):
    report = audit_verify()

    assert report.ok
    assert (report.checked, report.last_seq, report.last_hash) == (0, 0, GENESIS_HASH)
    assert "Audit chain OK: 0 events" in verify_command()


# --- the database refuses edits ------------------------------------------------------------


def test_the_database_refuses_an_orm_update_of_an_audit_row(history):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=3).update(action="nothing.happened")

    assert AuditEvent.objects.get(seq=3).action == history[2].action
    assert audit_verify().ok


def test_the_database_refuses_saving_a_changed_audit_row(history):
    event = AuditEvent.objects.get(seq=2)
    event.payload = {"roles": ["admin"]}

    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()

    assert AuditEvent.objects.get(seq=2).payload == history[1].payload
    assert audit_verify().ok


@pytest.mark.postgres
def test_postgres_also_refuses_deleting_audit_rows(history):
    if connection.vendor != "postgresql":
        pytest.skip("DELETE is refused by a trigger on PostgreSQL only")

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=len(history)).delete()

    assert AuditEvent.objects.count() == len(history)


# --- tampering is found --------------------------------------------------------------------


def test_an_edited_payload_breaks_the_chain_at_that_event(history):
    target = next(e for e in history if e.action == "model.updated")
    tamper(
        "UPDATE registry_auditevent SET payload = %s WHERE seq = %s",
        ['{"title": {"from": "Credit default", "to": "Something else"}}', target.seq],
    )

    report = audit_verify()
    assert not report.ok
    assert report.first_break.seq == target.seq
    assert "altered" in report.first_break.reason
    assert report.checked == target.seq - 1
    with pytest.raises(CommandError, match=rf"BROKEN at event #{target.seq}\b"):
        verify_command()


def test_an_edited_actor_breaks_the_chain(history):
    tamper("UPDATE registry_auditevent SET actor_name = %s WHERE seq = %s", ["rev", 5])

    with pytest.raises(CommandError, match=r"BROKEN at event #5\b"):
        verify_command()


def test_rehashing_an_edited_event_breaks_the_next_link(history):
    target = history[3]
    forged = {**event_content(target), "action": "nothing.happened"}
    tamper(
        "UPDATE registry_auditevent SET action = %s, hash = %s WHERE seq = %s",
        ["nothing.happened", event_hash(forged), target.seq],
    )

    report = audit_verify()
    assert report.first_break.seq == target.seq + 1
    assert "prev_hash" in report.first_break.reason
    with pytest.raises(CommandError, match=rf"BROKEN at event #{target.seq + 1}\b"):
        verify_command()


def test_deleting_an_event_in_the_middle_leaves_a_gap(history):
    tamper("DELETE FROM registry_auditevent WHERE seq = %s", [4])

    report = audit_verify()
    assert report.first_break.seq == 5
    assert "expected sequence number 4" in report.first_break.reason
    with pytest.raises(CommandError, match=r"BROKEN at event #5\b"):
        verify_command()


def test_deleting_the_last_event_is_caught_by_the_head(history):
    last = history[-1]
    tamper("DELETE FROM registry_auditevent WHERE seq = %s", [last.seq])

    report = audit_verify()
    assert not report.ok
    assert report.first_break.seq == last.seq
    assert f"head records #{last.seq}" in report.first_break.reason
    with pytest.raises(CommandError, match=rf"BROKEN at event #{last.seq}\b"):
        verify_command()


def test_the_trigger_is_back_after_tampering(history):
    tamper("UPDATE registry_auditevent SET actor_name = %s WHERE seq = %s", ["x", 1])

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(actor_name="y")


# --- appending -----------------------------------------------------------------------------


def test_audit_record_refuses_to_run_outside_a_transaction(migration_data, transactional_db):
    assert not connection.in_atomic_block

    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=None, action="orphan.event", payload={})

    assert not AuditEvent.objects.filter(action="orphan.event").exists()
    assert AuditChainHead.objects.get().seq == 0


def test_an_event_rolled_back_with_its_change_leaves_no_trace(db):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit_record(actor=None, action="doomed", payload={"n": 1})
        1 / 0  # noqa: B018

    assert not AuditEvent.objects.exists()
    assert AuditChainHead.objects.get().seq == 0
    event = None
    with transaction.atomic():
        event = audit_record(actor=None, action="kept", payload={"n": 2})
    assert (event.seq, event.prev_hash) == (1, GENESIS_HASH)
    assert audit_verify().ok


def test_payloads_are_stored_as_they_were_hashed(db):
    import datetime
    import decimal
    import uuid

    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    with transaction.atomic():
        event = audit_record(
            actor=None,
            action="odd.types",
            payload={"when": moment, "amount": decimal.Decimal("1.50"), "id": uuid.UUID(int=1)},
        )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.payload == {
        "when": "2026-01-02T03:04:05Z",
        "amount": "1.50",
        "id": "00000000-0000-0000-0000-000000000001",
    }
    assert event_hash(event_content(stored)) == stored.hash
    assert audit_verify().ok


THREADS = 8
APPENDS = 25


@pytest.mark.postgres
def test_concurrent_appends_keep_one_linear_chain(migration_data, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; row locks are a PostgreSQL matter")
    start = AuditChainHead.objects.get().seq

    def writer(n: int) -> None:
        for i in range(APPENDS):
            with transaction.atomic():
                audit_record(actor=None, action="load.append", payload={"thread": n, "i": i})

    errors = [e for e in race(writer, THREADS, timeout=120) if e is not None]

    assert not errors, errors
    events = list(AuditEvent.objects.filter(seq__gt=start).order_by("seq"))
    assert len(events) == THREADS * APPENDS
    assert [e.seq for e in events] == list(range(start + 1, start + 1 + THREADS * APPENDS))
    assert len({e.prev_hash for e in events}) == len(events)  # no fork: no shared parent
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    written = sorted((e.payload["thread"], e.payload["i"]) for e in events)
    assert written == [(n, i) for n in range(THREADS) for i in range(APPENDS)]
    head = AuditChainHead.objects.get()
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)
    report = audit_verify()
    assert report.ok
    assert report.checked == start + THREADS * APPENDS


@pytest.mark.postgres
def test_worker_processes_walk_the_committed_chain(migration_data, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("the test SQLite database lives in this process's memory")
    with transaction.atomic():
        for n in range(50):
            audit_record(actor=None, action="load.append", payload={"n": n, "x": [0.5, "é"]})
    serial = audit_verify()

    assert serial.ok
    assert audit_verify(jobs=2) == serial
    tamper("UPDATE registry_auditevent SET actor_name = 'x' WHERE seq = %s", [serial.last_seq - 3])
    broken = audit_verify()
    assert broken.first_break.seq == serial.last_seq - 3
    assert audit_verify(jobs=3) == broken
