"""Who gets what from every API endpoint: one declared table, walked by one parametrized test.

Each row is an endpoint and method with the status every kind of caller must get; the test
runs each row once and has every role call it on the same data, rolling each call back.
People are logged in with a session (as in the browser) and the CI account uses its bearer
token, so rows for server-rendered pages can join the same table later.

A 409 or 400 for an allowed caller means access was granted and the domain then refused
the request for the state the row sets up (e.g. promoting a version whose gates fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from explain.models import Report
from registry.models import ModelVersion, VersionStatus
from tests.conftest import PASSWORD

from .conftest import candidate, fair_frame, register

ROLES = ("engineer", "reviewer", "risk_officer", "auditor", "admin", "ci", "outsider", "anonymous")
PEOPLE = {"admin": "admin_user"}  # role -> fixture name, where they differ

MODEL = "/api/v1/models/{model}/"
VERSION = MODEL + "versions/{version}/"


SMALL = fair_frame(n=60)


def new_version() -> dict[str, Any]:
    return candidate("2.0.0", frame=SMALL, shap=False).multipart()


@dataclass(frozen=True)
class Row:
    """One endpoint and method; ``expect`` lists a status per role, in the order of ROLES."""

    name: str
    method: str
    path: str
    expect: tuple[int, ...]
    body: Any = None
    format: str = "json"
    status: str = VersionStatus.REGISTERED  # the version's status before the request

    @property
    def model_specific(self) -> bool:
        return "{model}" in self.path


# fmt: off
ROWS = [
    #                                                               eng  rev  risk aud  adm  ci   out  anon
    Row("models list", "GET", "/api/v1/models/",                   (200, 200, 200, 200, 200, 200, 200, 401)),
    Row("model create", "POST", "/api/v1/models/",                 (201, 403, 403, 403, 201, 403, 403, 401),
        body={"name": "fraud-score", "title": "Fraud", "owner_team": "credit-risk"}),
    Row("model detail", "GET", MODEL,                              (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("model edit", "PATCH", MODEL,                              (200, 403, 403, 403, 200, 403, 404, 401),
        body={"title": "Credit default, renamed"}),
    Row("objectives", "GET", MODEL + "objectives/",                (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("objective create", "POST", MODEL + "objectives/",         (201, 403, 403, 403, 201, 403, 404, 401),
        body={"title": "Fewer defaults", "kpis": [
            {"name": "Recall", "metric_key": "recall", "comparator": ">=", "target": 0.5}]}),
    Row("versions", "GET", MODEL + "versions/",                    (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("version register", "POST", MODEL + "versions/",           (201, 403, 403, 403, 201, 201, 404, 401),
        body=new_version, format="multipart"),
    Row("version detail", "GET", VERSION,                          (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("reports", "GET", VERSION + "reports/",                    (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("report request", "POST", VERSION + "reports/",            (200, 200, 200, 403, 200, 403, 404, 401),
        body={"kind": "performance"}),
    Row("report detail", "GET", VERSION + "reports/{report}/",     (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("review request", "POST", VERSION + "review-request/",     (201, 403, 403, 403, 201, 403, 404, 401),
        body={"note": "please"}),
    Row("sign-offs", "GET", VERSION + "signoffs/",                 (200, 200, 200, 200, 200, 200, 404, 401),
        status=VersionStatus.IN_REVIEW),
    Row("sign off", "POST", VERSION + "signoffs/",                 (403, 201, 201, 403, 403, 403, 404, 401),
        body={"decision": "changes_requested", "comment": "more data", "password": PASSWORD},
        status=VersionStatus.IN_REVIEW),
    Row("gates", "GET", VERSION + "gates/",                        (200, 200, 200, 200, 200, 200, 404, 401),
        status=VersionStatus.IN_REVIEW),
    # The reports have not run, so the gates fail: 409 for those who may promote.
    Row("promote", "POST", VERSION + "promote/",                   (403, 403, 409, 403, 409, 403, 404, 401),
        body={"reason": "launch", "replaces": ""}, status=VersionStatus.APPROVED),
    # Never in production, so 409 for those who may roll back.
    Row("rollback", "POST", VERSION + "rollback/",                 (403, 403, 409, 403, 409, 403, 404, 401),
        body={"reason": "revert", "replaces": ""}, status=VersionStatus.ARCHIVED),
    Row("timeline", "GET", MODEL + "timeline/",                    (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("review policy", "GET", MODEL + "review-policy/",          (200, 200, 200, 200, 200, 200, 404, 401)),
    Row("review policy edit", "PATCH", MODEL + "review-policy/",   (403, 403, 200, 403, 200, 403, 404, 401),
        body={"signoff_valid_days": 30}),
]
# fmt: on


def client_as(role: str, people: dict[str, Any], ci) -> APIClient:
    client = APIClient()
    if role == "ci":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {ci[2]}")
    elif role != "anonymous":
        client.force_login(people[role])
    return client


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.method} {row.name}")
def test_access(row: Row, request, model, ci):
    """Every role calls the endpoint on the same data; each call is rolled back after it."""
    people = {
        role: request.getfixturevalue(PEOPLE.get(role, role))
        for role in ROLES
        if role not in ("ci", "anonymous")
    }
    version = register(ci[0], model, token=ci[1], frame=SMALL, shap=False, run=False)
    ModelVersion.objects.filter(pk=version.pk).update(status=row.status)
    report = Report.objects.filter(version=version, kind="fairness").get()
    path = row.path.format(model=model.name, version=version.version, report=report.pk)

    got = {}
    for role in ROLES:
        with transaction.atomic():
            client = client_as(role, people, ci)
            body = row.body() if callable(row.body) else row.body
            response = getattr(client, row.method.lower())(path, body, format=row.format)
            got[role] = response.status_code
            transaction.set_rollback(True)

    assert got == dict(zip(ROLES, row.expect, strict=True)), path


def test_every_row_names_a_status_for_every_role():
    assert all(len(row.expect) == len(ROLES) for row in ROWS)
    assert len({(row.method, row.path) for row in ROWS}) == len(ROWS)


def test_outsiders_never_learn_a_model_exists():
    outsider = ROLES.index("outsider")

    assert [row.name for row in ROWS if row.model_specific and row.expect[outsider] != 404] == []
