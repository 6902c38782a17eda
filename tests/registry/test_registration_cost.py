"""What one registration costs the database and the worker: statements, chain-head locks,
and how often the evaluation data is parsed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from explain.models import Report
from registry import evaluation
from registry.audit.chain import audit_verify
from registry.models import AuditEvent, EvaluationDataset
from tests.builders import Candidate, post_version


def test_a_registration_takes_the_chain_head_once_for_all_its_events(engineer, model):
    with CaptureQueriesContext(connection) as captured:
        registration = Candidate().register(actor=engineer, model=model)

    head_reads = [q for q in captured if "registry_auditchainhead" in q["sql"].split("WHERE")[0]]
    # One read of the head (FOR UPDATE on PostgreSQL) and one update, for five events.
    assert len(head_reads) == 2
    events = list(AuditEvent.objects.order_by("seq").filter(seq__gt=1))
    reports = list(Report.objects.filter(version=registration.version).order_by("pk"))
    assert [e.action for e in events[-5:]] == ["version.registered"] + ["report.queued"] * 4
    assert [e.object_id for e in events[-4:]] == [str(r.pk) for r in reports]
    assert [e.payload["kind"] for e in events[-4:]] == [r.kind for r in reports]
    assert audit_verify().ok


def test_a_registration_is_a_fixed_number_of_statements(engineer, model):
    Candidate(version="0.9.0").register(actor=engineer, model=model)  # warm the caches

    with CaptureQueriesContext(connection) as captured:
        Candidate().register(actor=engineer, model=model)

    # The token's scope, the version, its data set, the model's fairness policy and KPIs,
    # four reports in one insert, five audit events under one head lock (47 before, then 18;
    # the test's transaction holds back the enqueued_at update that follows the commit).
    work = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) == 9, "\n".join(sql[:120] for sql in work)


def test_the_reports_of_a_version_parse_its_data_once_per_worker(engineer, model, monkeypatch):
    registration = Candidate().register(actor=engineer, model=model)
    dataset = EvaluationDataset.objects.get(version=registration.version)
    evaluation._PARSED.clear()
    parsed = []
    read_frame = evaluation.read_frame
    monkeypatch.setattr(
        evaluation, "read_frame", lambda fh, fmt: parsed.append(fmt) or read_frame(fh, fmt)
    )

    first = evaluation.load_dataset_frame(dataset)
    first.loc[0, "sex"] = "changed by a runner"
    second = evaluation.load_dataset_frame(dataset)

    assert parsed == ["csv"]
    assert second.loc[0, "sex"] != "changed by a runner"
    assert second.shape == (400, 7)


def test_altered_data_is_refused_even_when_its_parse_is_cached(engineer, model):
    registration = Candidate().register(actor=engineer, model=model)
    dataset = EvaluationDataset.objects.get(version=registration.version)
    evaluation.load_dataset_frame(dataset)
    with open(dataset.file.path, "ab") as fh:
        fh.write(b"female,old,1,0.5,1,1,0.9\n")

    with pytest.raises(ValueError, match="does not match its sha256"):
        evaluation.load_dataset_frame(dataset)


def _statements(client_call, on_commit) -> list[str]:
    """The SQL of one request, with what runs after its commit (publishing)."""
    with CaptureQueriesContext(connection) as captured, on_commit(execute=True):
        response = client_call()
    assert response.status_code in (200, 201), response.content
    return [q["sql"] for q in captured]


def test_the_registration_endpoint_is_a_fixed_number_of_statements(
    ci_client, model, django_capture_on_commit_callbacks
):
    post_version(ci_client, model.name, Candidate(version="0.9.0"))  # warm the caches

    statements = _statements(
        lambda: post_version(ci_client, model.name, Candidate()), django_capture_on_commit_callbacks
    )

    # The token; the model and the token's scope; the version, its data set, the model's
    # fairness policy and KPIs (once each for the three reports), the reports in one insert;
    # the chain head read, the four events, the head update; enqueued_at after publishing.
    # No look-up of an earlier version first: a repeat is the unique constraint's error.
    shown = "\n".join(sql[:100] for sql in statements)
    work = [sql for sql in statements if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) == 12, shown
    assert sum('FROM "explain_fairnesspolicy"' in sql for sql in work) == 1, shown
    assert sum('FROM "registry_kpi"' in sql for sql in work) == 1, shown
    assert sum(sql.startswith('UPDATE "explain_report"') for sql in work) == 1, shown


def test_reading_a_version_is_two_statements(ci_client, model, django_capture_on_commit_callbacks):
    post_version(ci_client, model.name, Candidate())

    statements = _statements(
        lambda: ci_client.get(f"/api/v1/models/{model.name}/versions/1.0.0/"),
        django_capture_on_commit_callbacks,
    )

    # The token, then the version with its model, team, submitter, data set and model file,
    # joined and filtered by what the token may see.
    assert len(statements) == 2, "\n".join(sql[:100] for sql in statements)


def test_a_repeated_registration_answers_with_the_stored_version(ci_client, model):
    first = post_version(ci_client, model.name, Candidate())
    again = post_version(ci_client, model.name, Candidate())
    clash = post_version(ci_client, model.name, Candidate(overrides={"code_commit": "f" * 40}))

    assert (first.status_code, again.status_code, clash.status_code) == (201, 200, 409)
    assert again.json() == first.json()
    assert "metadata.version" in clash.json()["errors"]
    assert Report.objects.filter(version__model=model).count() == 4
