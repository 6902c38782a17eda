"""Test data builders: people, clients, evaluation data, candidate versions, versions taken
through review, audit events, and the harnesses several suites share (the offline verifiers,
a thread race, the rows a data migration makes).

Plain functions, imported by test modules; the fixtures in the ``conftest.py`` files are thin
wrappers around them. Crafted skops archives live in ``tests/skops_files.py``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from explain import kinds, runners
from explain import services as explain_services
from explain.models import Report, ReportStatus
from explain.selectors import latest_reports
from registry import services
from registry.audit.chain import canonical_json
from registry.audit.record import audit_record
from registry.models import AuditEvent, ModelVersion, Team
from registry.roles import Role
from reviews import gates
from reviews import services as review_services
from reviews.models import Decision, SignOff

PASSWORD = "correct-horse-battery-staple"
ROOT = Path(__file__).resolve().parents[1]

# --- people and clients --------------------------------------------------------------------


def make_user(username: str, roles: list[Role], teams: list[Team] = ()):
    """A person with roles and team memberships, created through the service."""
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    services.user_assign_roles(
        actor=None, user=user, roles=[r.value for r in roles], teams=list(teams)
    )
    return get_user_model().objects.get(pk=user.pk)


def client_for(user=None, secret: str | None = None) -> APIClient:
    """An API client: with a bearer token, or authenticated as ``user``, or anonymous."""
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    elif user is not None:
        client.force_authenticate(user)
    return client


def web(user) -> Client:
    """A browser-like client with ``user`` logged in."""
    client = Client()
    client.force_login(user)
    return client


def streamed(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- evaluation data -----------------------------------------------------------------------


def evaluation_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small evaluation set: binary label and prediction, scores, two protected columns."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n)
    age = rng.choice(["young", "middle", "old"], n)
    income = rng.normal(50, 10, n).round(2)
    debt = rng.uniform(0, 1, n).round(3)
    score = 1 / (1 + np.exp(-(0.08 * (income - 50) - 2 * (debt - 0.5) + (sex == "male") * 0.4)))
    return pd.DataFrame(
        {
            "sex": sex,
            "age_group": age,
            "income": income,
            "debt_ratio": debt,
            "repaid": (rng.random(n) < score).astype(int),
            "approved": (score >= 0.5).astype(int),
            "score": score.round(5),
        }
    )


def fair_frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Men and women in equal numbers, predictions equal to the labels: fairness passes."""
    frame = evaluation_frame(n=n, seed=seed)
    frame["sex"] = np.where(np.arange(n) % 2 == 0, "male", "female")
    frame["approved"] = frame["repaid"]
    return frame


def biased_frame(n: int = 600, seed: int = 1) -> pd.DataFrame:
    """Predictions that approve men far more often than women, whatever the labels say."""
    frame = evaluation_frame(n=n, seed=seed)
    rng = np.random.default_rng(seed)
    male = (frame["sex"] == "male").to_numpy()
    frame["approved"] = np.where(male, rng.random(n) < 0.9, rng.random(n) < 0.3).astype(int)
    frame["score"] = np.where(frame["approved"] == 1, 0.75, 0.25)
    return frame


@functools.cache
def skops_model_bytes() -> bytes:
    """A tiny logistic regression on the candidate's features, saved with skops."""
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = evaluation_frame()
    return dumps(LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"]))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- candidate versions --------------------------------------------------------------------


@dataclass
class Candidate:
    """A version submission as CI sends it; mutate fields to make it wrong."""

    version: str = "1.0.0"
    frame: pd.DataFrame = field(default_factory=evaluation_frame)
    overrides: dict[str, Any] = field(default_factory=dict)
    column_overrides: dict[str, Any] = field(default_factory=dict)
    model_bytes: bytes | None = None
    model_name: str = "model.skops"

    def metadata(self) -> dict[str, Any]:
        columns = {
            "label": "repaid",
            "prediction": "approved",
            "score": "score",
            "favorable_label": 1,
            "protected": {"sex": {"privileged": ["male"]}, "age_group": {"privileged": ["middle"]}},
            "features": ["income", "debt_ratio"],
            **self.column_overrides,
        }
        return {
            "version": self.version,
            "artifact_uri": f"s3://models/credit/{self.version}.skops",
            "artifact_sha256": sha(self.model_bytes) if self.model_bytes else "a" * 64,
            "code_commit": "0123456789abcdef0123456789abcdef01234567",
            "training_data_uri": "s3://data/train.csv",
            "training_data_sha256": "b" * 64,
            "metrics": {"accuracy": 0.81, "manual_review_rate": 0.2},
            "params": {"max_depth": 3},
            "tags": {"branch": "main"},
            "columns": columns,
            **self.overrides,
        }

    def csv(self) -> bytes:
        return self.frame.to_csv(index=False).encode()

    def multipart(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "metadata": json.dumps(self.metadata()),
            "evaluation_data": _named(self.csv(), "evaluation.csv"),
        }
        if self.model_bytes is not None:
            body["model"] = _named(self.model_bytes, self.model_name)
        return body

    def register(self, *, actor, model, token=None, key: str = ""):
        """Register through the service CI's endpoint calls, which queues the reports."""
        return explain_services.version_register(
            actor=actor,
            token=token,
            model=model,
            metadata=self.metadata(),
            evaluation_file=io.BytesIO(self.csv()),
            model_file=io.BytesIO(self.model_bytes) if self.model_bytes else None,
            model_filename=self.model_name,
            idempotency_key=key,
        )


def _named(data: bytes, name: str) -> io.BytesIO:
    fh = io.BytesIO(data)
    fh.name = name
    return fh


def post_version(client: APIClient, model_name: str, candidate: Candidate, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"/api/v1/models/{model_name}/versions/",
        candidate.multipart(),
        format="multipart",
        **headers,
    )


# What every high-risk version needs before it can pass the gates.
GATED_KINDS = kinds.evidence_kinds()
SEX_ONLY = {"sex": {"privileged": ["male"]}}


def candidate(version: str = "1.0.0", *, frame=None, shap: bool = True) -> Candidate:
    """A submission whose fairness passes (unless ``frame`` says otherwise)."""
    return Candidate(
        version=version,
        frame=fair_frame() if frame is None else frame,
        column_overrides={"protected": SEX_ONLY},
        model_bytes=skops_model_bytes() if shap else None,
    )


# --- reports and reviews -------------------------------------------------------------------


def run_reports(
    version: ModelVersion, kinds: Collection[str] | None = GATED_KINDS
) -> dict[str, Report]:
    """Run the newest queued report of each kind (of every kind for ``None``), as a worker
    would."""
    for kind, report in latest_reports(version).items():
        if (kinds is None or kind in kinds) and report.status == ReportStatus.QUEUED:
            explain_services.report_run(report_id=report.pk)
    return latest_reports(version)


def rerun(version: ModelVersion, kind: str, **params: Any) -> Report:
    """Ask for a report again with other params and run it at once."""
    request = explain_services.report_request(
        actor=None, version=version, kind=kind, params=params, check=False
    )
    return explain_services.report_run(report_id=request.report.pk)


def register(
    actor, model, version: str = "1.0.0", *, token=None, frame=None, shap=True, run=True
) -> ModelVersion:
    """Register a candidate and (by default) run its gated reports."""
    registered = (
        candidate(version, frame=frame, shap=shap)
        .register(actor=actor, model=model, token=token)
        .version
    )
    if run:
        run_reports(registered)
    return fresh(registered)


def fresh(version: ModelVersion) -> ModelVersion:
    return ModelVersion.objects.select_related("model__owner_team").get(pk=version.pk)


def sign(version: ModelVersion, actor, decision: str = Decision.APPROVED, **kwargs) -> SignOff:
    """A sign-off with the right password."""
    kwargs.setdefault("password", PASSWORD)
    if decision != Decision.APPROVED:
        kwargs.setdefault("comment", f"{decision} for a reason")
    return review_services.signoff_record(actor=actor, version=version, decision=decision, **kwargs)


def check(version: ModelVersion, key: str, **kwargs) -> gates.Check:
    """One gate of the version, evaluated now."""
    return next(c for c in gates.evaluate(fresh(version), **kwargs).checks if c.key == key)


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def ready_version(ci, engineer, reviewer, risk_officer, model, number: str) -> ModelVersion:
    """Another version taken through review to approved, with every gate passing."""
    user, token, _ = ci
    version = register(user, model, number, token=token)
    review_services.review_request(actor=engineer, version=version)
    sign(version, reviewer)
    sign(version, risk_officer)
    version = fresh(version)
    assert gates.evaluate(version).passed, gates.evaluate(version).failing
    return version


_SHAP_OUTPUTS: dict[tuple[str, str, str], runners.RunOutput] = {}


def shap_once(version: ModelVersion, params: dict[str, Any], progress) -> runners.RunOutput:
    """SHAP is the slow runner; identical inputs give identical outputs, so compute each once."""
    key = (
        version.model_file.sha256,
        version.evaluation_data.sha256,
        canonical_json(params),
    )
    if key not in _SHAP_OUTPUTS:
        _SHAP_OUTPUTS[key] = runners.run_shap(version, params, progress)
    return copy.deepcopy(_SHAP_OUTPUTS[key])


# --- audit events --------------------------------------------------------------------------


def record(n: int = 1, *, model_name: str = "", action: str = "test.event", actor=None, **payload):
    """Append ``n`` events straight to the chain, as a service would."""
    appended = []
    with transaction.atomic():
        for i in range(n):
            appended.append(
                audit_record(
                    actor=actor,
                    action=action,
                    object_type="tests.thing",
                    object_id=str(i),
                    model_name=model_name,
                    payload={"i": i, **payload},
                )
            )
    return appended


# --- the offline verifiers -----------------------------------------------------------------

TOOL = ROOT / "tools" / "verify_bundle.py"
OFFLINE = ROOT / "registry" / "offline.py"  # the module TOOL is a copy of


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


# --- threads and committed data ------------------------------------------------------------


def race(work: Callable[[int], Any], n: int, *, timeout: float = 60) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; each result or exception.

    Threads see only committed rows: use with ``transactional_db``."""
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
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results


def restore_migration_rows() -> None:
    """Put back what the data migrations made (role groups, the audit chain head, the event
    dispatcher's cursor at that head), which the flush that ends a transactional test
    empties. Call with the database unblocked."""
    from django.contrib.auth.models import Group

    from events.dispatch import CURSOR
    from events.models import Cursor
    from registry.audit.chain import GENESIS_HASH
    from registry.models import AuditChainHead

    # As the migration makes them: bulk, so no audit signal needs the chain head.
    Group.objects.bulk_create([Group(name=role.value) for role in Role], ignore_conflicts=True)
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
    # Without it the dispatcher would start at the head of whatever a test records first, and
    # take those events for history.
    Cursor.objects.get_or_create(name=CURSOR, defaults={"seq": 0})
    connection.close()
