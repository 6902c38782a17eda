"""Parallel promotions on PostgreSQL: exactly one wins, the database holds exactly one
production version, and the audit chain still verifies."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from registry.audit.chain import audit_verify
from registry.errors import Conflict
from registry.models import ModelVersion, VersionStatus
from reviews import services
from reviews.models import ProductionEvent, ReviewRequest
from tests.builders import client_for, events, race, ready_version, register

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

THREADS = 6


@pytest.fixture(autouse=True)
def _committed(migration_data, transactional_db):
    """Threads see only committed rows, so these tests commit (and flush afterwards)."""


@pytest.fixture
def two_ready(ci, engineer, reviewer, risk_officer, model):
    return [
        ready_version(ci, engineer, reviewer, risk_officer, model, number)
        for number in ("1.0.0", "2.0.0")
    ]


def test_parallel_promotions_of_two_versions_through_the_api(two_ready, risk_officer, model):
    """Every caller saw an empty production: one wins, the others are told it changed."""
    numbers = [v.version for v in two_ready]

    def promote(i: int):
        user = get_user_model().objects.get(pk=risk_officer.pk)
        response = client_for(user).post(
            f"/api/v1/models/credit-default/versions/{numbers[i % 2]}/promote/",
            {"reason": f"thread {i}", "replaces": ""},
            format="json",
        )
        return response.status_code, response.json()

    results = race(promote, THREADS)

    assert Counter(status for status, _ in results) == {200: 1, 409: THREADS - 1}, results
    (winner,) = [body for status, body in results if status == 200]
    losers = [body for status, body in results if status == 409]
    # Those who raced for the winner's version hear it is already in production.
    assert all(
        "replaces" in body["errors"]
        or body["detail"] == f"{winner['version']} is already in production."
        for body in losers
    ), losers
    production = ModelVersion.objects.filter(model=model, status=VersionStatus.PRODUCTION)
    assert [v.version for v in production] == [winner["version"]]
    assert ProductionEvent.objects.count() == 1
    assert ProductionEvent.objects.get().reason == winner["reason"]
    assert len(events("version.promoted")) == 1
    assert not events("version.archived")
    assert audit_verify().ok


def test_parallel_promotions_of_the_same_version(two_ready, risk_officer, model):
    version = two_ready[0]

    def promote(i: int):
        user = get_user_model().objects.get(pk=risk_officer.pk)
        return services.version_promote(
            actor=user, version=version, reason=f"thread {i}", replaces=""
        )

    results = race(promote, THREADS)

    won = [r for r in results if isinstance(r, ProductionEvent)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert (len(won), len(lost)) == (1, THREADS - 1), results
    assert all("already in production" in str(r) for r in lost)
    assert list(
        ModelVersion.objects.filter(model=model, status=VersionStatus.PRODUCTION).values_list(
            "version", flat=True
        )
    ) == ["1.0.0"]
    assert ProductionEvent.objects.count() == 1
    assert len(events("version.promoted")) == 1
    assert audit_verify().ok


def test_parallel_first_review_requests_of_one_model(ci, engineer, model):
    """The first review request saves the policy's revision 1; two at once must not clash."""
    user, token, _ = ci
    versions = [register(user, model, f"{i}.0.0", token=token, run=False) for i in range(THREADS)]

    def request_review(i: int):
        actor = get_user_model().objects.get(pk=engineer.pk)
        return services.review_request(actor=actor, version=versions[i])

    results = race(request_review, THREADS)

    assert all(isinstance(r, ReviewRequest) for r in results), results
    assert {r.policy_revision for r in results} == {1}
    assert len(events("policy.created")) == 1
    assert audit_verify().ok
