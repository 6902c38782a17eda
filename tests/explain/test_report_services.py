"""Report services: queueing on registration, idempotent requests, claimed runs, failures,
the sweep of lost work, and what the fairness and KPI reports say about planted data."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from importlib import metadata

import pytest
from django.utils import timezone
from sklearn.metrics import accuracy_score, recall_score

from explain import kinds, queue, services
from explain.models import Report, ReportStatus
from registry import services as registry_services
from registry.audit.chain import canonical_json
from registry.errors import InvalidInput, NotAllowed
from registry.models import AuditEvent
from tests.builders import Candidate, biased_frame, skops_model_bytes

AUTOMATIC = {"fairness", "kpi", "performance", "reference"}


def events(action: str, report: Report | None = None) -> list[AuditEvent]:
    found = AuditEvent.objects.filter(action=action).order_by("seq")
    if report is not None:
        found = found.filter(object_type="explain.report", object_id=str(report.pk))
    return list(found)


def report_of(version, kind: str) -> Report:
    return Report.objects.get(version=version, kind=kind)


@pytest.fixture
def version(engineer, model, sent, django_capture_on_commit_callbacks):
    """A registered version whose automatic reports were queued and sent to the recorder."""
    with django_capture_on_commit_callbacks(execute=True):
        registered = Candidate().register(actor=engineer, model=model).version
    assert len(sent) == 4
    return registered


# --- queueing ------------------------------------------------------------------------------


def test_registering_queues_the_automatic_reports_and_sends_them_on_commit(
    engineer, model, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        version = Candidate().register(actor=engineer, model=model).version

        reports = list(Report.objects.filter(version=version))
        assert {r.kind for r in reports} == AUTOMATIC
        assert {r.status for r in reports} == {ReportStatus.QUEUED}
        assert all(r.enqueued_at is None and r.attempts == 0 for r in reports)
        assert sent == []  # nothing reaches the broker before the commit

    # The registration's own "committed" marker, then one send for all its reports.
    assert len(callbacks) == 2
    callbacks[0]()
    assert sent == []
    callbacks[1]()

    assert sorted(sent) == sorted(r.pk for r in reports)
    assert all(r.enqueued_at is not None for r in Report.objects.filter(version=version))
    queued = events("report.queued")
    assert sorted(e.payload["kind"] for e in queued) == sorted(AUTOMATIC)
    assert {e.object_id for e in queued} == {str(r.pk) for r in reports}
    assert {e.payload["version"] for e in queued} == {"1.0.0"}
    assert {e.model_name for e in queued} == {"credit-default"}
    fairness = report_of(version, "fairness")
    assert fairness.params["bootstrap_samples"] == 200  # GATEHOUSE_BOOTSTRAP_SAMPLES in tests
    assert fairness.params_sha256 == services.params_hash(fairness.params)


def test_a_version_with_a_skops_model_also_queues_shap_and_lime(
    engineer, model, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        version = (
            Candidate(model_bytes=skops_model_bytes()).register(actor=engineer, model=model).version
        )

    reports = Report.objects.filter(version=version)
    assert {r.kind for r in reports} == AUTOMATIC | {"shap", "lime"}
    assert sorted(sent) == sorted(r.pk for r in reports)
    assert sorted(e.payload["kind"] for e in events("report.queued")) == sorted(
        AUTOMATIC | {"shap", "lime"}
    )


def test_a_failed_registration_queues_nothing(engineer, model, sent):
    bad = Candidate(column_overrides={"label": "nope"})

    with pytest.raises(InvalidInput):
        bad.register(actor=engineer, model=model)

    assert not Report.objects.exists()
    assert events("report.queued") == []


# --- requesting ----------------------------------------------------------------------------


def test_asking_twice_with_the_same_params_returns_the_same_report(
    version, reviewer, django_capture_on_commit_callbacks
):
    original = report_of(version, "fairness")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = services.report_request(
            actor=reviewer, version=version, kind="fairness", params={"bootstrap_samples": 200}
        )

    assert again.created is False
    assert again.report.pk == original.pk
    assert callbacks == []  # nothing new to send
    assert len(events("report.queued")) == 4


def test_other_params_make_a_new_report_and_keep_the_old_one(
    version, reviewer, sent, django_capture_on_commit_callbacks
):
    original = report_of(version, "fairness")

    with django_capture_on_commit_callbacks(execute=True):
        asked = services.report_request(
            actor=reviewer, version=version, kind="fairness", params={"bootstrap_samples": 50}
        )

    assert asked.created is True
    report = asked.report
    assert report.pk != original.pk
    assert report.params == {**original.params, "bootstrap_samples": 50}
    assert report.requested_by == reviewer
    assert report.status == ReportStatus.QUEUED
    assert sent[-1] == report.pk
    assert Report.objects.filter(version=version, kind="fairness").count() == 2
    assert Report.objects.filter(pk=original.pk, status=ReportStatus.QUEUED).exists()
    (event,) = events("report.queued", report)
    assert event.actor_name == "rev"
    assert event.payload["params_sha256"] == report.params_sha256


@pytest.mark.parametrize(
    ("kind", "params", "field", "text"),
    [
        ("colour", {}, "kind", "Unknown report kind"),
        ("fairness", {"bootstrap": 10}, "params", "bootstrap"),
        ("performance", {"seed": 1}, "params", "seed"),
        ("shap", {}, "kind", "no model file"),
    ],
)
def test_bad_requests_name_the_field_and_store_nothing(
    version, engineer, kind, params, field, text
):
    before = Report.objects.count()

    with pytest.raises(InvalidInput) as caught:
        services.report_request(actor=engineer, version=version, kind=kind, params=params)

    assert list(caught.value.errors) == [field]
    assert text in caught.value.errors[field][0]
    assert Report.objects.count() == before


@pytest.mark.parametrize("who", ["engineer", "reviewer", "risk_officer"])
def test_people_who_work_on_the_model_may_request_reports(version, who, request):
    actor = request.getfixturevalue(who)

    asked = services.report_request(actor=actor, version=version, kind="performance", params={})

    assert asked.report == report_of(version, "performance")


@pytest.mark.parametrize("who", ["auditor", "ci", "outsider"])
def test_auditors_ci_and_outsiders_may_not_request_reports(version, who, request):
    actor, token = request.getfixturevalue(who), None
    if who == "ci":
        actor, token = actor[0], actor[1]
    before = Report.objects.count()

    with pytest.raises(NotAllowed):
        services.report_request(
            actor=actor,
            token=token,
            version=version,
            kind="fairness",
            params={"bootstrap_samples": 10},
        )

    assert Report.objects.count() == before
    assert len(events("report.queued")) == 4


# --- running -------------------------------------------------------------------------------


def test_running_a_report_stores_its_result_digest_and_engines(version):
    report = report_of(version, "fairness")

    ran = services.report_run(report_id=report.pk)

    ran.refresh_from_db()
    assert ran.status == ReportStatus.SUCCEEDED
    assert ran.attempts == 1
    assert (ran.progress, ran.progress_message, ran.error) == (100, "done", "")
    assert ran.started_at <= ran.finished_at
    assert ran.result["rows"] == 400
    assert ran.result["bootstrap"]["samples"] == 200
    assert set(ran.result["attributes"]) == {"sex", "age_group"}
    expected = hashlib.sha256(canonical_json(ran.result).encode()).hexdigest()
    assert ran.result_sha256 == expected
    assert ran.engine_versions == {
        name: metadata.version(name) for name in ("aif360", "numpy", "pandas", "scikit-learn")
    }
    (event,) = events("report.completed", ran)
    assert event.actor_name == "system"
    assert event.payload == {
        "version": "1.0.0",
        "kind": "fairness",
        "result_sha256": expected,
        "files": {},
    }


def test_a_second_delivery_does_nothing(version):
    report = report_of(version, "performance")
    first = services.report_run(report_id=report.pk)

    second = services.report_run(report_id=report.pk)

    assert second is None
    report.refresh_from_db()
    assert report.attempts == 1
    assert report.status == ReportStatus.SUCCEEDED
    assert report.result_sha256 == first.result_sha256
    assert len(events("report.completed", report)) == 1


def test_a_missing_report_is_a_quiet_no_op(db):
    assert services.report_run(report_id=987654) is None


def test_a_report_whose_computation_raises_is_failed_with_the_error(version):
    report = report_of(version, "performance")
    # Altered evaluation data: the runner refuses to compute on it.
    stored = version.evaluation_data.file
    with open(stored.path, "ab") as fh:
        fh.write(b"female,old,1.0,0.1,1,1,0.9\n")

    ran = services.report_run(report_id=report.pk)

    assert ran.status == ReportStatus.FAILED
    assert ran.error.startswith("ValueError: The stored evaluation data")
    assert "does not match its sha256" in ran.error
    assert ran.result is None and ran.result_sha256 == ""
    assert ran.attempts == 1 and ran.finished_at is not None
    (event,) = events("report.failed", ran)
    assert event.payload["kind"] == "performance"
    assert event.payload["error"] == ran.error
    assert events("report.completed", ran) == []
    # A failed report is done: delivering it again does not run it a second time.
    assert services.report_run(report_id=report.pk) is None
    assert Report.objects.get(pk=report.pk).attempts == 1


def test_a_running_report_with_a_fresh_heartbeat_cannot_be_claimed(version):
    report = report_of(version, "performance")
    now = timezone.now()
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.RUNNING, attempts=1, started_at=now, heartbeat_at=now
    )

    assert services.report_run(report_id=report.pk) is None

    report.refresh_from_db()
    assert (report.status, report.attempts, report.result) == (ReportStatus.RUNNING, 1, None)
    assert events("report.completed", report) == []


def test_a_running_report_with_a_stale_heartbeat_is_taken_over(version, settings):
    report = report_of(version, "performance")
    stale = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS + 5)
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.RUNNING, attempts=1, started_at=stale, heartbeat_at=stale
    )

    ran = services.report_run(report_id=report.pk)

    assert ran.status == ReportStatus.SUCCEEDED
    assert ran.attempts == 2
    assert len(events("report.completed", ran)) == 1


# --- the sweep -----------------------------------------------------------------------------


def test_the_sweep_requeues_lost_reports_and_resends_unsent_ones(version, sent, settings):
    fairness, kpi, performance = (report_of(version, k) for k in ("fairness", "kpi", "performance"))
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS + 1)
    Report.objects.filter(pk=fairness.pk).update(
        status=ReportStatus.RUNNING, attempts=1, started_at=stale, heartbeat_at=stale
    )
    # kpi: running and alive; performance: queued but never handed to a broker.
    Report.objects.filter(pk=kpi.pk).update(
        status=ReportStatus.RUNNING, attempts=1, started_at=now, heartbeat_at=now
    )
    Report.objects.filter(pk=performance.pk).update(enqueued_at=None)
    sent.clear()

    swept = services.reports_sweep()

    assert swept == {"requeued": 1, "resent": 1, "sent": 2, "given_up": 0}
    assert sorted(sent) == sorted([fairness.pk, performance.pk])
    fairness.refresh_from_db()
    assert fairness.status == ReportStatus.QUEUED
    assert fairness.progress_message == "re-queued: worker lost"
    assert fairness.enqueued_at is not None  # handed to the broker again
    assert Report.objects.get(pk=kpi.pk).status == ReportStatus.RUNNING
    assert Report.objects.get(pk=performance.pk).enqueued_at is not None
    (event,) = events("report.requeued", fairness)
    assert event.payload == {"reason": "worker lost", "attempts": 1}
    assert events("report.requeued", kpi) == []

    # The re-queued report runs once more and only once.
    ran = services.report_run(report_id=fairness.pk)
    assert (ran.status, ran.attempts) == (ReportStatus.SUCCEEDED, 2)


def test_the_sweep_resends_queued_reports_only_when_due(version, sent, settings):
    fairness, kpi, performance = (report_of(version, k) for k in ("fairness", "kpi", "performance"))
    long_ago = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_RESEND_SECONDS + 1)
    Report.objects.filter(pk=fairness.pk).update(enqueued_at=long_ago)
    services.report_run(report_id=kpi.pk)
    sent.clear()

    swept = services.reports_sweep()

    # fairness was sent long ago (resend); performance was sent just now; kpi is done.
    assert swept == {"requeued": 0, "resent": 1, "sent": 1, "given_up": 0}
    assert sent == [fairness.pk]
    assert Report.objects.get(pk=performance.pk).status == ReportStatus.QUEUED
    assert events("report.requeued") == []


def test_when_the_broker_is_down_the_report_stays_unsent_for_the_next_sweep(version, monkeypatch):
    def broker_down(report_id):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(queue, "report_publish", broker_down)
    Report.objects.filter(version=version).update(enqueued_at=None)

    swept = services.reports_sweep()

    # The first failure stops the round: one connection timeout, not one per report.
    assert swept == {"requeued": 0, "resent": 4, "sent": 0, "given_up": 0}
    assert set(Report.objects.values_list("enqueued_at", flat=True)) == {None}
    assert set(Report.objects.values_list("status", flat=True)) == {ReportStatus.QUEUED}


def test_enqueued_at_is_recorded_even_when_a_worker_claims_the_report_first(
    engineer, model, monkeypatch, django_capture_on_commit_callbacks
):
    def fast_worker(report_id):
        services._claim(report_id)  # the worker takes it before the publisher returns

    monkeypatch.setattr(queue, "report_publish", fast_worker)
    with django_capture_on_commit_callbacks(execute=True):
        version = Candidate().register(actor=engineer, model=model).version

    reports = Report.objects.filter(version=version)
    assert {r.status for r in reports} == {ReportStatus.RUNNING}
    assert all(r.enqueued_at is not None for r in reports)


# --- what the reports say ------------------------------------------------------------------


def test_a_planted_disparity_fails_the_fairness_report_with_intervals(engineer, model, sent):
    version = Candidate(frame=biased_frame()).register(actor=engineer, model=model).version

    result = services.report_run(report_id=report_of(version, "fairness").pk).result

    sex = result["attributes"]["sex"]
    assert sex["verdict"] == "fail"
    assert result["verdict"] == "fail"
    assert sex["privileged"] == ["male"]
    aggregate = sex["comparisons"][0]
    assert aggregate["unprivileged"] == ["female"]
    di = aggregate["metrics"]["disparate_impact"]
    assert di["verdict"] == "fail"
    assert di["value"] < 0.5
    low, high = di["ci"]
    assert low <= di["value"] <= high < 0.8
    spd = aggregate["metrics"]["statistical_parity_difference"]
    assert spd["verdict"] == "fail"
    assert spd["value"] < -0.4
    assert spd["ci"][0] <= spd["value"] <= spd["ci"][1] < -0.1
    assert aggregate["mitigation"]["reweighing"]["unprivileged"]["favorable"] is not None


def test_kpis_are_measured_from_the_data_then_from_ci_and_unknown_keys_are_missing(
    engineer, model, sent
):
    registry_services.objective_create(
        actor=engineer,
        model=model,
        title="Lend responsibly",
        kpis=[
            {"name": "Accuracy", "metric_key": "accuracy", "comparator": ">=", "target": 0.5},
            {
                "name": "Manual reviews",
                "metric_key": "manual_review_rate",
                "comparator": "<=",
                "target": 0.3,
            },
            {
                "name": "Recall",
                "metric_key": "recall",
                "comparator": ">=",
                "target": 0.999,
                "blocking": False,
            },
            {
                "name": "Churn",
                "metric_key": "customer.churn_delta",
                "comparator": "<=",
                "target": 0.05,
            },
        ],
    )
    candidate = Candidate()
    version = candidate.register(actor=engineer, model=model).version

    result = services.report_run(report_id=report_of(version, "kpi").pk).result

    rows = {row["metric_key"]: row for row in result["kpis"]}
    accuracy = accuracy_score(candidate.frame["repaid"], candidate.frame["approved"])
    assert accuracy != pytest.approx(0.81)  # what CI claimed; the data wins
    assert rows["accuracy"]["value"] == pytest.approx(accuracy)
    assert (rows["accuracy"]["source"], rows["accuracy"]["status"]) == ("computed", "met")
    assert rows["manual_review_rate"]["value"] == 0.2
    assert rows["manual_review_rate"]["source"] == "reported by CI"
    assert rows["manual_review_rate"]["status"] == "met"
    recall = recall_score(candidate.frame["repaid"], candidate.frame["approved"])
    assert rows["recall"]["value"] == pytest.approx(recall)
    assert rows["recall"]["status"] == "not_met"
    churn = rows["customer.churn_delta"]
    assert (churn["value"], churn["source"], churn["status"]) == (None, None, "missing")
    assert result["summary"] == {
        "total": 4,
        "met": 2,
        "not_met": 1,
        "missing": 1,
        "blocking_all_met": False,
        "blocking_failing": ["customer.churn_delta"],
    }


def test_kpi_summary_passes_when_only_non_blocking_kpis_fail(engineer, model, sent):
    registry_services.objective_create(
        actor=engineer,
        model=model,
        title="Fair lending",
        kpis=[
            {
                "name": "Sex disparate impact",
                "metric_key": "fairness.sex.disparate_impact",
                "comparator": ">=",
                "target": 0.6,
            },
            {
                "name": "Stretch",
                "metric_key": "not.reported",
                "comparator": ">=",
                "target": 1,
                "blocking": False,
            },
        ],
    )
    version = Candidate().register(actor=engineer, model=model).version

    result = services.report_run(report_id=report_of(version, "kpi").pk).result

    di = result["kpis"][0]
    assert di["source"] == "computed" and di["status"] == "met"
    assert 0.6 <= di["value"] < 1
    assert result["summary"]["blocking_all_met"] is True
    assert result["summary"]["blocking_failing"] == []
    assert result["summary"]["missing"] == 1


def test_identical_data_gives_identical_result_digests(engineer, model, sent):
    first = Candidate(version="1.0.0").register(actor=engineer, model=model).version
    second = Candidate(version="1.0.1").register(actor=engineer, model=model).version

    for kind in AUTOMATIC:
        a = services.report_run(report_id=report_of(first, kind).pk)
        b = services.report_run(report_id=report_of(second, kind).pk)
        a.refresh_from_db()
        b.refresh_from_db()
        assert a.params_sha256 == b.params_sha256
        assert a.result_sha256 == b.result_sha256, kind
        assert a.result == b.result
        # The stored JSON still hashes to the recorded digest after the database round trip.
        assert services.result_hash(a.result) == a.result_sha256


def test_another_seed_changes_the_intervals_but_not_the_point_estimates(version, engineer, sent):
    default = services.report_run(report_id=report_of(version, "fairness").pk)
    other = services.report_request(
        actor=engineer, version=version, kind=kinds.FAIRNESS, params={"seed": 7}
    ).report

    reseeded = services.report_run(report_id=other.pk)

    assert reseeded.result_sha256 != default.result_sha256
    sex_a = default.result["attributes"]["sex"]["comparisons"][0]["metrics"]
    sex_b = reseeded.result["attributes"]["sex"]["comparisons"][0]["metrics"]
    assert sex_a["disparate_impact"]["value"] == sex_b["disparate_impact"]["value"]
    assert sex_a["disparate_impact"]["ci"] != sex_b["disparate_impact"]["ci"]


def test_a_report_that_loses_its_worker_too_often_fails_instead_of_looping(version, settings):
    settings.GATEHOUSE_REPORT_MAX_ATTEMPTS = 2
    report = report_of(version, "fairness")
    stale = timezone.now() - timedelta(seconds=settings.GATEHOUSE_REPORT_STALE_SECONDS + 5)
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.RUNNING, attempts=2, heartbeat_at=stale
    )

    swept = services.reports_sweep()

    report.refresh_from_db()
    assert swept["given_up"] == 1 and swept["requeued"] == 0
    assert report.status == ReportStatus.FAILED
    assert "lost 2 times" in report.error
    assert events("report.failed")[-1].object_id == str(report.pk)
