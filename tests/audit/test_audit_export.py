"""Exporting the audit trail: who may, what the files hold, that they verify, that the export
is on record first; the audit API with keyset pages; and the fast paths that feed them."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime

import pytest
from django.test import Client

from registry.audit import chain
from registry.audit.chain import (
    canonical_json,
    event_content,
    event_hash,
    iter_event_contents,
    iter_event_rows,
    verify_events,
)
from registry.audit.encoders import EXPORT_COLUMNS, csv_line
from registry.models import AuditEvent
from registry.offline import csv_unguard
from tests.builders import client_for, record, streamed, web

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(model, other_model, engineer):
    record(3, model_name=model.name, actor=engineer, note='quotes " and, commas\nand é')
    record(2, model_name=other_model.name, nested={"b": [1, 2.5, None], "a": True})
    return model


def parse_csv(data: bytes) -> list[dict]:
    rows = [
        {name: csv_unguard(cell) for name, cell in row.items()}
        for row in csv.DictReader(io.StringIO(data.decode(), newline=""))
    ]
    for row in rows:
        row["seq"] = int(row["seq"])
        row["payload"] = json.loads(row["payload"])
    return rows


def parse_jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def stored() -> list[dict]:
    return [event_content(e) for e in AuditEvent.objects.order_by("seq")]


# --- access --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("who", ["reviewer", "engineer", "outsider"])
def test_only_auditors_and_admins_export(history, fmt, who, request):
    response = web(request.getfixturevalue(who)).get(f"/audit/export.{fmt}")

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_export_needs_a_login(history):
    response = Client().get("/audit/export.csv")

    assert response.status_code == 302


# --- content -------------------------------------------------------------------------------


def test_the_csv_export_is_the_chain_and_verifies(history, auditor):
    response = web(auditor).get("/audit/export.csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')

    rows = parse_csv(streamed(response))

    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert rows == stored()  # the export's own event included, as the last row
    assert rows[-1]["action"] == "audit.exported"
    report = verify_events(rows)
    assert report.ok and report.checked == len(rows)


def test_the_jsonl_export_is_the_chain_and_verifies(history, admin_user):
    response = web(admin_user).get("/audit/export.jsonl")
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"

    lines = parse_jsonl(streamed(response))

    assert [list(line) for line in lines[:1]] == [list(EXPORT_COLUMNS)]
    assert lines == stored()
    assert verify_events(lines).ok


def test_a_filtered_export_holds_only_matching_events(history, auditor):
    data = streamed(web(auditor).get("/audit/export.jsonl?model=churn"))

    lines = parse_jsonl(data)
    assert lines == [e for e in stored() if e["model"] == "churn"]
    assert {line["model"] for line in lines} == {"churn"}
    assert all(event_hash(line) == line["hash"] for line in lines)


def test_the_export_is_recorded_before_the_first_row(history, auditor):
    response = web(auditor).get("/audit/export.csv?model=credit-default&action=test.")

    exported = AuditEvent.objects.get(action="audit.exported")  # before reading the body
    assert exported.actor_name == "aud"
    assert exported.payload == {
        "format": "csv",
        "filters": {"model": "credit-default", "action": "test."},
        "via": "web",
    }
    rows = parse_csv(streamed(response))
    assert {r["action"] for r in rows} == {"test.event"}


def test_a_bad_filter_refuses_the_export(history, auditor):
    response = web(auditor).get("/audit/export.csv?from=yesterday")

    assert response.status_code == 400
    assert b"from: Enter a date" in response.content
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


GUARDED = set("=+-@\t\r\n'")  # OWASP's formula starts, and the guard's own quote


def test_csv_cells_are_guarded_then_quoted_as_csv_writer_quotes_them_and_read_back():
    rng = random.Random(7)
    alphabet = "ab ,\"\n\r\té;{}=+-@'"
    for _ in range(1000):
        cells = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(10))) for _ in range(9)]
        row = (rng.randrange(10**9), *cells)
        expected = io.StringIO()
        # excel dialect: quotes \r and \n as well; a formula-like start gets one "'"
        csv.writer(expected).writerow((row[0], *("'" * (c[:1] in GUARDED) + c for c in cells)))
        assert csv_line(row) == expected.getvalue().removesuffix("\r\n") + "\n"
        back = next(csv.reader(io.StringIO(csv_line(row), newline="")))
        assert not {cell[:1] for cell in back} & (GUARDED - {"'"})
        assert [csv_unguard(cell) for cell in back] == [str(cell) for cell in row]


def test_rows_with_one_risky_character_anywhere_are_guarded_and_quoted_alike():
    """Mostly plain rows (the common case ``csv_line`` tells at a glance), each with at most
    one character CSV or the formula guard cares about, at any place in any cell."""
    rng = random.Random(8)
    risky = ",\"\n\r\t=+-@'"
    plain_rows = 0
    for _ in range(3000):
        cells = [
            "".join(rng.choice("ab é;{}:0") for _ in range(rng.randrange(6))) for _ in range(9)
        ]
        if rng.random() < 0.7:
            at = rng.randrange(9)
            cut = rng.randrange(len(cells[at]) + 1)
            cells[at] = cells[at][:cut] + rng.choice(risky) + cells[at][cut:]
        else:
            plain_rows += 1
        row = (rng.randrange(10**9), *cells)
        expected = io.StringIO()
        csv.writer(expected).writerow((row[0], *("'" * (c[:1] in GUARDED) + c for c in cells)))
        assert csv_line(row) == expected.getvalue().removesuffix("\r\n") + "\n", row
    assert plain_rows > 500


# --- the rows the exports and the chain walk read ------------------------------------------


def test_the_fast_readers_give_exactly_the_hashed_content(history, monkeypatch):
    # Whole seconds are stored without a fraction; the readers must still say .000000.
    monkeypatch.setattr(chain.timezone, "now", lambda: datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    record(2, model_name="credit-default", text='Ré ✓ \u2028 " \\')
    events = list(AuditEvent.objects.order_by("seq"))

    contents = list(iter_event_contents())
    rows = list(iter_event_rows())

    assert contents == [event_content(e) for e in events]
    assert contents[-1]["created_at"] == "2026-03-04T05:06:07.000000Z"
    assert [r[0] for r in rows] == [e.seq for e in events]
    assert [json.loads(r[7]) for r in rows] == [e.payload for e in events]
    assert verify_events(contents).ok


def test_the_fast_chain_walk_hashes_exactly_like_event_hash():
    rng = random.Random(3)
    chars = 'aZ"\\\n\t\x00\x1fé€😀\u2028/'

    def text() -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randrange(0, 6)))

    prev = "0" * 64
    events = []
    for seq in range(1, 400):
        content = {
            "seq": seq,
            "created_at": text(),
            "actor": text(),
            "action": text(),
            "object_type": text(),
            "object_id": text(),
            "model": text(),
            "payload": {text(): [text(), rng.random(), rng.randrange(-(10**20), 10**20), None]},
            "prev_hash": prev,
        }
        content["hash"] = prev = event_hash(content)
        events.append(content)

    assert verify_events(events).ok
    events[200]["payload"] = {"changed": True}
    report = verify_events(events)
    assert (report.checked, report.first_break.seq) == (200, 201)
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


# --- the API -------------------------------------------------------------------------------


def test_the_api_lists_visible_events_by_keyset_pages(history, reviewer):
    record(60, model_name="credit-default")
    api = client_for(reviewer)

    first = api.get("/api/v1/audit/events/").json()
    second = api.get(first["next"]).json()

    ours = list(AuditEvent.objects.filter(model_name="credit-default").order_by("-seq"))
    assert [e["seq"] for e in first["results"]] == [e.seq for e in ours[:50]]
    assert [e["seq"] for e in second["results"]] == [e.seq for e in ours[50:100]]
    assert first["previous"] is None and second["next"] is None
    assert api.get(second["previous"]).json()["results"] == first["results"]
    assert first["results"][0] == event_content(ours[0])
    assert event_hash(first["results"][0]) == first["results"][0]["hash"]


def test_the_api_list_hides_other_teams_models(history, outsider):
    body = client_for(outsider).get("/api/v1/audit/events/?model=credit-default").json()

    assert body["results"] == []


def test_a_ci_token_sees_no_audit_events(history, ci):
    body = client_for(secret=ci[2]).get("/api/v1/audit/events/").json()

    assert body["results"] == []


def test_the_api_names_the_field_of_a_bad_filter(history, auditor):
    response = client_for(auditor).get("/api/v1/audit/events/?to=someday&before=-3")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"to", "before"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_api_export_streams_and_records(history, auditor, fmt):
    response = client_for(auditor).get(f"/api/v1/audit/export/?format={fmt}&model=credit-default")

    assert response.status_code == 200
    data = streamed(response)
    rows = parse_csv(data) if fmt == "csv" else parse_jsonl(data)
    assert rows == [e for e in stored() if e["model"] == "credit-default"]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.payload["via"] == "api"
    assert exported.payload["format"] == fmt


@pytest.mark.parametrize("who", ["reviewer", "outsider", "engineer"])
def test_the_api_export_refuses_everyone_else(history, who, request):
    response = client_for(request.getfixturevalue(who)).get("/api/v1/audit/export/?format=csv")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_the_api_export_refuses_an_unknown_format(history, auditor):
    response = client_for(auditor).get("/api/v1/audit/export/?format=xml")

    assert response.status_code == 400
    assert response.json()["errors"] == {"format": ["Choose csv or jsonl."]}


def test_the_schema_documents_the_audit_and_bundle_endpoints(db):
    schema = json.loads(Client().get("/api/schema/?format=json").content)
    paths = schema["paths"]

    events = {p["name"] for p in paths["/api/v1/audit/events/"]["get"]["parameters"]}
    export = paths["/api/v1/audit/export/"]["get"]
    bundle = paths["/api/v1/models/{name}/versions/{version}/bundle/"]["get"]

    assert {"model", "actor", "action", "from", "to", "before", "after"} <= events
    assert {"format", "model", "from", "to"} <= {p["name"] for p in export["parameters"]}
    assert {"text/csv", "application/x-ndjson"} <= set(export["responses"]["200"]["content"])
    assert "application/zip" in bundle["responses"]["200"]["content"]
