"""Parallel promotions on PostgreSQL: exactly one wins, the database holds exactly one
production version, and the audit chain still verifies."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from registry.audit.chain import GENESIS_HASH, audit_verify
from registry.errors import Conflict
from registry.models import AuditChainHead, ModelVersion, VersionStatus
from registry.roles import Role
from reviews import services
from reviews.models import ProductionEvent, ReviewRequest
from tests.conftest import client_for

from .conftest import events, ready_version, register

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

THREADS = 6


def race(work: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; each result or exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def _migration_rows(django_db_blocker):
    """The flush that ends a transactional test empties the rows the data migration made
    (role groups, the chain head): put them back before and after, for the tests that follow."""

    def restore() -> None:
        with django_db_blocker.unblock():
            # As the migration makes them: bulk, so no audit signal needs the chain head.
            Group.objects.bulk_create(
                [Group(name=role.value) for role in Role], ignore_conflicts=True
            )
            AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})

    restore()
    yield
    restore()


@pytest.fixture(autouse=True)
def _committed(_migration_rows, transactional_db):
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

    results = race(promote)

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

    results = race(promote)

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

    results = race(request_review)

    assert all(isinstance(r, ReviewRequest) for r in results), results
    assert {r.policy_revision for r in results} == {1}
    assert len(events("policy.created")) == 1
    assert audit_verify().ok
