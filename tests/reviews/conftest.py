"""Fixtures for the review tests: versions whose reports really ran, in every review state.

Reports run in-process through ``explain.services.report_run`` (no broker, no worker) on
small data with 100 bootstrap samples, so a version with every required report takes
about a second. The builders are in ``tests.builders``.
"""

from __future__ import annotations

import dataclasses

import pytest

from explain import kinds, queue
from registry.models import ModelVersion, VersionStatus
from reviews import gates, services
from reviews.models import Decision, Objection
from tests.builders import events, fresh, ready_version, register, shap_once, sign


@pytest.fixture(autouse=True)
def _reports_in_process(settings, monkeypatch):
    """Fewer bootstrap samples, SHAP computed once per input, and nothing ever handed to a
    broker: the tests run reports themselves."""
    settings.GATEHOUSE_BOOTSTRAP_SAMPLES = 100
    # Each test client builds its own middleware, and whitenoise would scan every static
    # file for each one (about 0.2 s); these tests fetch no static files.
    settings.WHITENOISE_USE_FINDERS = False
    shap = kinds.KINDS[kinds.SHAP]
    monkeypatch.setitem(kinds.KINDS, kinds.SHAP, dataclasses.replace(shap, runner=shap_once))
    monkeypatch.setattr(queue, "report_publish", lambda report_id: None)


@pytest.fixture
def ci_user(ci):
    return ci[0]


@pytest.fixture
def submitted(ci, model) -> ModelVersion:
    """Version 1.0.0, registered by CI, every gated report succeeded."""
    user, token, _ = ci
    return register(user, model, "1.0.0", token=token)


@pytest.fixture
def in_review(submitted, engineer) -> ModelVersion:
    services.review_request(actor=engineer, version=submitted, note="ready")
    return fresh(submitted)


@pytest.fixture
def approved(in_review, reviewer, risk_officer) -> ModelVersion:
    """In review, approved by a reviewer and a risk officer: every gate passes."""
    sign(in_review, reviewer)
    sign(in_review, risk_officer)
    version = fresh(in_review)
    assert version.status == VersionStatus.APPROVED
    assert gates.evaluate(version).passed, gates.evaluate(version).failing
    return version


@pytest.fixture
def second(ci, engineer, reviewer, risk_officer, model, approved):
    """Version 2.0.0, also approved with every gate passing."""
    return ready_version(ci, engineer, reviewer, risk_officer, model, "2.0.0")


@pytest.fixture
def replaced(approved, second, risk_officer):
    """1.0.0 went to production, then 2.0.0 replaced it."""
    services.version_promote(
        actor=risk_officer, version=approved, reason="first release", replaces=""
    )
    services.version_promote(
        actor=risk_officer, version=fresh(second), reason="better recall", replaces="1.0.0"
    )
    return fresh(approved), fresh(second)


@pytest.fixture
def objected(in_review, reviewer) -> Objection:
    """The reviewer asked for changes on 1.0.0, which the engineer sent to review."""
    sign(in_review, reviewer, Decision.CHANGES_REQUESTED, comment="Add the Q3 applications.")
    return Objection.objects.get()


@pytest.fixture
def other(ci, model) -> ModelVersion:
    """Version 2.0.0 of the same model, its reports not run."""
    return register(ci[0], model, "2.0.0", token=ci[1], run=False)


def assert_comment_recorded(comment, body: str) -> None:
    """The one ``comment.posted`` event of a top-level comment by rev on 1.0.0."""
    (event,) = events("comment.posted")
    assert (event.actor_name, event.object_id, event.model_name) == (
        "rev",
        str(comment.pk),
        "credit-default",
    )
    assert event.payload == {
        "version": "1.0.0",
        "body": body,
        "reply_to": None,
        "objection": None,
    }
