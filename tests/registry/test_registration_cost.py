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
from tests.builders import Candidate


def test_a_registration_takes_the_chain_head_once_for_all_its_events(engineer, model):
    with CaptureQueriesContext(connection) as captured:
        registration = Candidate().register(actor=engineer, model=model)

    head_reads = [q for q in captured if "registry_auditchainhead" in q["sql"].split("WHERE")[0]]
    # One read of the head (FOR UPDATE on PostgreSQL) and one update, for four events.
    assert len(head_reads) == 2
    events = list(AuditEvent.objects.order_by("seq").filter(seq__gt=1))
    reports = list(Report.objects.filter(version=registration.version).order_by("pk"))
    assert [e.action for e in events[-4:]] == ["version.registered"] + ["report.queued"] * 3
    assert [e.object_id for e in events[-3:]] == [str(r.pk) for r in reports]
    assert [e.payload["kind"] for e in events[-3:]] == [r.kind for r in reports]
    assert audit_verify().ok


def test_a_registration_is_a_fixed_number_of_statements(engineer, model):
    Candidate(version="0.9.0").register(actor=engineer, model=model)  # warm the caches

    with CaptureQueriesContext(connection) as captured:
        Candidate().register(actor=engineer, model=model)

    # The version, its data set, the reports' params, three reports in one insert, four
    # audit events under one head lock, and one enqueued_at update after publishing (47 before).
    assert len(captured) <= 18, "\n".join(q["sql"][:120] for q in captured)


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
