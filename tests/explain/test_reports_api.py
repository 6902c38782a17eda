"""The report API (list, read, request) and the web page's status endpoint: what each role
sees and may do, and what the bodies say."""

from __future__ import annotations

import pytest
from django.test import Client

from explain import services
from explain.models import Report, ReportStatus
from registry.models import AuditEvent
from tests.builders import Candidate, client_for

BASE = "/api/v1/models/credit-default/versions/1.0.0/reports/"
STATUS = "/models/credit-default/versions/1.0.0/reports/status/"


@pytest.fixture
def version(engineer, model, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return Candidate().register(actor=engineer, model=model).version


def web_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_shows_every_report_of_the_version(version, engineer):
    response = client_for(engineer).get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    rows = body["results"]
    assert [r["kind"] for r in rows] == ["fairness", "kpi", "performance", "reference"]
    assert {r["status"] for r in rows} == {"queued"}
    assert {r["progress"] for r in rows} == {0}
    by_kind = {r["kind"]: r for r in rows}
    fairness = Report.objects.get(version=version, kind="fairness")
    assert by_kind["fairness"]["id"] == fairness.pk
    assert by_kind["fairness"]["url"] == f"{BASE}{fairness.pk}/"
    assert by_kind["fairness"]["params_sha256"] == fairness.params_sha256
    assert "result" not in by_kind["fairness"]  # the list is a summary


def test_the_list_filters_by_kind(version, engineer):
    response = client_for(engineer).get(BASE, {"kind": "kpi"})

    assert [r["kind"] for r in response.json()["results"]] == ["kpi"]


def test_the_detail_shows_status_progress_and_result(version, reviewer):
    report = Report.objects.get(version=version, kind="performance")
    client = client_for(reviewer)

    queued = client.get(f"{BASE}{report.pk}/").json()
    services.report_run(report_id=report.pk)
    done = client.get(f"{BASE}{report.pk}/")

    assert (queued["status"], queued["progress"], queued["result"]) == ("queued", 0, None)
    assert done.status_code == 200
    body = done.json()
    report.refresh_from_db()
    assert body["status"] == "succeeded"
    assert (body["progress"], body["progress_message"]) == (100, "done")
    assert body["attempts"] == 1
    assert body["result"] == report.result
    assert body["result"]["overall"]["count"] == 400
    assert body["result_sha256"] == report.result_sha256 == services.result_hash(body["result"])
    assert set(body["engine_versions"]) == {"numpy", "pandas", "scikit-learn"}
    assert body["params"] == {}
    assert body["files"] == []
    assert body["error"] == ""


def test_a_report_of_another_version_is_not_found_here(version, engineer, model, sent):
    other = Candidate(version="2.0.0").register(actor=engineer, model=model).version
    foreign = Report.objects.get(version=other, kind="fairness")

    response = client_for(engineer).get(f"{BASE}{foreign.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_asking_for_a_report_with_other_params_creates_it_once(
    version, engineer, sent, django_capture_on_commit_callbacks
):
    client = client_for(engineer)
    ask = {"kind": "fairness", "params": {"bootstrap_samples": 50}}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(BASE, ask, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(BASE, ask, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert again.json()["id"] == body["id"]
    assert body["kind"] == "fairness"
    assert body["status"] == "queued"
    assert body["params"]["bootstrap_samples"] == 50
    assert body["params"]["seed"] == 0
    assert body["requested_by"] == "eng"
    assert sent[-1] == body["id"]
    assert sent.count(body["id"]) == 1  # the repeat sends nothing
    assert Report.objects.filter(version=version, kind="fairness").count() == 2
    assert AuditEvent.objects.filter(action="report.queued", object_id=str(body["id"])).count() == 1


@pytest.mark.parametrize(
    ("ask", "field"),
    [
        ({"kind": "colour"}, "kind"),
        ({}, "kind"),
        ({"kind": "fairness", "params": {"bootstrap": 5}}, "params"),
        ({"kind": "fairness", "params": [1, 2]}, "params"),
        ({"kind": "lime"}, "kind"),
    ],
)
def test_bad_requests_get_400_naming_the_field(version, engineer, ask, field):
    before = Report.objects.count()

    response = client_for(engineer).post(BASE, ask, format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [field], body
    assert body["code"] == "invalid"
    assert Report.objects.count() == before


def test_outsiders_get_404_everywhere(version, outsider):
    report = Report.objects.get(version=version, kind="fairness")
    client = client_for(outsider)

    responses = [
        client.get(BASE),
        client.get(f"{BASE}{report.pk}/"),
        client.post(BASE, {"kind": "fairness", "params": {"seed": 3}}, format="json"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all("credit-default" not in str(r.json()["errors"]) for r in responses)
    assert Report.objects.count() == 4


def test_auditors_read_but_may_not_ask(version, auditor):
    report = Report.objects.get(version=version, kind="kpi")
    client = client_for(auditor)

    listed = client.get(BASE)
    shown = client.get(f"{BASE}{report.pk}/")
    asked = client.post(BASE, {"kind": "fairness", "params": {"seed": 3}}, format="json")

    assert listed.status_code == 200 and listed.json()["count"] == 4
    assert shown.status_code == 200 and shown.json()["id"] == report.pk
    assert asked.status_code == 403
    assert asked.json()["code"] == "forbidden"
    assert Report.objects.count() == 4


def test_ci_reads_but_may_not_ask(version, ci):
    client = client_for(secret=ci[2])

    listed = client.get(BASE)
    asked = client.post(BASE, {"kind": "fairness", "params": {"seed": 3}}, format="json")

    assert listed.status_code == 200 and listed.json()["count"] == 4
    assert asked.status_code == 403
    assert Report.objects.count() == 4


def test_anonymous_api_calls_are_refused(version):
    response = client_for().get(BASE)

    assert response.status_code in (401, 403)
    assert "results" not in response.json()


# --- the web status endpoint ---------------------------------------------------------------


def test_the_status_endpoint_reports_progress_until_all_are_done(version, reviewer):
    client = web_client(reviewer)

    before = client.get(STATUS).json()
    for report in Report.objects.filter(version=version):
        services.report_run(report_id=report.pk)
    after = client.get(STATUS).json()

    assert before["done"] is False
    assert sorted((r["kind"], r["status"], r["progress"]) for r in before["reports"]) == [
        ("fairness", "queued", 0),
        ("kpi", "queued", 0),
        ("performance", "queued", 0),
        ("reference", "queued", 0),
    ]
    assert after["done"] is True
    assert {(r["status"], r["progress"], r["message"]) for r in after["reports"]} == {
        ("succeeded", 100, "done")
    }
    assert {r["id"] for r in after["reports"]} == set(
        Report.objects.filter(version=version).values_list("pk", flat=True)
    )


def test_a_failed_report_also_counts_as_done(version, reviewer):
    Report.objects.filter(version=version).update(status=ReportStatus.SUCCEEDED)
    Report.objects.filter(version=version, kind="kpi").update(status=ReportStatus.FAILED)

    body = web_client(reviewer).get(STATUS).json()

    assert body["done"] is True
    assert {r["kind"]: r["status"] for r in body["reports"]}["kpi"] == "failed"


def test_the_status_endpoint_needs_a_login(version):
    response = Client().get(STATUS)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_status_endpoint_hides_the_model_from_outsiders(version, outsider):
    response = web_client(outsider).get(STATUS)

    assert response.status_code == 404
    assert b"queued" not in response.content


@pytest.mark.parametrize(
    "params",
    [
        {"bootstrap_samples": -1},
        {"bootstrap_samples": "many"},
        {"bootstrap_samples": 10**9},
        {"seed": "x"},
        {"policy": {"disparate_impact_min": 5}},
        {"policy": {"nope": 1}},
    ],
    ids=["negative", "text", "huge", "seed-text", "bad-band", "unknown-policy-key"],
)
def test_bad_param_values_get_400_naming_the_param(version, engineer, params):
    before = Report.objects.count()

    response = client_for(engineer).post(
        BASE, {"kind": "fairness", "params": params}, format="json"
    )

    assert response.status_code == 400
    assert any(field.startswith("params") for field in response.json()["errors"])
    assert Report.objects.count() == before
