"""Fixtures for the audit tests: events across models, logged-in clients, and one realistic
version bundle built once per module (every report run, signed off, promoted) inside a
transaction that is rolled back afterwards."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client

from explain import services as explain_services
from explain.models import ReportStatus
from explain.selectors import latest_reports
from registry import services
from registry.audit.actions import ACTIONS
from registry.audit.chain import event_content
from registry.audit.record import audit_record
from registry.models import AuditEvent
from registry.roles import Role
from reviews import services as review_services
from reviews.bundles import bundle_build
from reviews.models import Decision
from tests.conftest import PASSWORD, Candidate, evaluation_frame, make_user

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_bundle.py"
OFFLINE = ROOT / "registry" / "offline.py"  # the module TOOL is a copy of


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


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def streamed(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def record(n: int = 1, *, model_name: str = "", action: str = "test.event", actor=None, **payload):
    """Append ``n`` events straight to the chain, as a service would."""
    events = []
    with transaction.atomic():
        for i in range(n):
            events.append(
                audit_record(
                    actor=actor,
                    action=action,
                    object_type="tests.thing",
                    object_id=str(i),
                    model_name=model_name,
                    payload={"i": i, **payload},
                )
            )
    return events


# --- a realistic bundle --------------------------------------------------------------------


@functools.cache
def skops_model_bytes() -> bytes:
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = evaluation_frame()
    return dumps(LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"]))


def fair_frame(n: int = 1000):
    frame = evaluation_frame(n=n)
    frame["sex"] = np.where(np.arange(n) % 2 == 0, "male", "female")
    frame["approved"] = frame["repaid"]
    return frame


def run_queued(version) -> None:
    for report in latest_reports(version).values():
        if report.status == ReportStatus.QUEUED:
            explain_services.report_run(report_id=report.pk)


@dataclass
class Built:
    """A bundle as bytes, with what the database held when it was built."""

    data: bytes
    path: Path
    model_name: str
    version: str
    model_events: list[dict[str, Any]]
    all_events: list[dict[str, Any]]

    def names(self) -> list[str]:
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            return archive.namelist()

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            return archive.read(name)


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
    run_queued(version)
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


# --- running both verifiers ----------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    output: str


def run_tool(path: Path, cwd: Path) -> Outcome:
    """The standalone verifier as an auditor runs it: isolated, nothing of ours importable."""
    done = subprocess.run(
        [sys.executable, "-I", str(TOOL), str(path)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return Outcome(done.returncode, done.stdout + done.stderr)


def run_command(path: Path) -> Outcome:
    out = io.StringIO()
    try:
        call_command("bundle_verify", str(path), stdout=out)
    except CommandError as exc:
        return Outcome(1, out.getvalue() + str(exc))
    return Outcome(0, out.getvalue())
