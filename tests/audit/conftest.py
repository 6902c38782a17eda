"""Fixtures for the audit tests: one realistic version bundle built once per module (every
report run, signed off, promoted) inside a transaction that is rolled back afterwards. The
builders and the verifier runners are in ``tests.builders``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import transaction

from registry import services
from registry.audit.actions import ACTIONS
from registry.audit.chain import event_content
from registry.models import AuditEvent
from registry.roles import Role
from reviews import services as review_services
from reviews.bundles import bundle_build
from reviews.models import Decision
from tests.builders import (
    PASSWORD,
    Built,
    Candidate,
    fair_frame,
    make_user,
    run_reports,
    skops_model_bytes,
)

# Actions only these tests record, declared while they run (audit_record refuses the rest).
TEST_ACTIONS = {
    "test.event": "A test event",
    "test.formula": "A test event whose fields start like spreadsheet formulas",
    "model.noted": "A test note about a model",
    "a.one": "Test action one",
    "a.two": "Test action two",
}


@contextmanager
def declared(actions: Mapping[str, str]) -> Iterator[None]:
    """Declare test-only audit actions for the duration of the block."""
    for key, description in actions.items():
        ACTIONS.add(key, description)
    try:
        yield
    finally:
        for key in actions:
            ACTIONS.remove(key)


@pytest.fixture(autouse=True, scope="module")
def test_actions() -> Iterator[None]:
    with declared(TEST_ACTIONS):
        yield


def _scenario(tmp: Path) -> Built:
    team = services.team_create(actor=None, slug="credit-risk", name="Credit risk")
    other = services.team_create(actor=None, slug="marketing", name="Marketing")
    engineer = make_user("eng", [Role.ML_ENGINEER], [team])
    reviewer = make_user("rev", [Role.REVIEWER], [team])
    risk = make_user("risk", [Role.RISK_OFFICER], [team])
    auditor = make_user("aud", [Role.AUDITOR])
    admin = make_user("adm", [Role.ADMIN])
    model = services.model_create(
        actor=engineer,
        name="credit-default",
        title="Credit default",
        owner_team=team,
        risk_tier="high",
        intended_use="Rank loan applications for manual review; never to decline alone.",
    )
    services.model_create(actor=admin, name="churn", title="Churn", owner_team=other)
    services.objective_create(
        actor=engineer,
        model=model,
        title="Fewer manual reviews",
        kpis=[
            {"name": "Accuracy", "metric_key": "accuracy", "comparator": ">=", "target": 0.7},
            {
                "name": "Complaints",
                "metric_key": "complaint_rate",
                "comparator": "<=",
                "target": 0.01,
                "blocking": False,
            },
        ],
    )
    issued = services.ci_account_create(actor=None, name="ci-credit", models=[model])
    services.token_issue(actor=reviewer, user=reviewer, name="laptop")  # an event of no model
    candidate = Candidate(
        frame=fair_frame(),
        column_overrides={"protected": {"sex": {"privileged": ["male"]}}},
        model_bytes=skops_model_bytes(),
    )
    version = candidate.register(actor=issued.token.user, model=model, token=issued.token).version
    run_reports(version, kinds=None)
    review_services.review_request(actor=engineer, version=version, note="ready")
    for person in (reviewer, risk):
        review_services.signoff_record(
            actor=person, version=version, decision=Decision.APPROVED, password=PASSWORD
        )
    version.refresh_from_db()
    review_services.version_promote(
        actor=risk, version=version, reason="quarterly release", replaces=""
    )
    version.refresh_from_db()
    bundle = bundle_build(version=version, actor=auditor)
    data = bundle.file.read()
    path = tmp / "bundle.zip"
    path.write_bytes(data)
    return Built(
        data=data,
        path=path,
        model_name=model.name,
        version=version.version,
        model_events=[event_content(e) for e in AuditEvent.objects.filter(model_name=model.name)],
        all_events=[event_content(e) for e in AuditEvent.objects.order_by("seq")],
    )


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory) -> Built:
    with django_db_blocker.unblock(), transaction.atomic():
        scenario = _scenario(tmp_path_factory.mktemp("bundle"))
        transaction.set_rollback(True)
    return scenario
