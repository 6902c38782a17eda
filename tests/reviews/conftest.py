"""Fixtures for the review tests: versions whose reports really ran, in every review state.

Reports run in-process through ``explain.services.report_run`` (no broker, no worker) on
small data with 100 bootstrap samples, so a version with every required report takes
about a second.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explain import kinds, queue, runners
from explain import services as explain_services
from explain.models import Report, ReportStatus
from explain.selectors import latest_reports
from registry.audit.chain import canonical_json
from registry.models import AuditEvent, ModelVersion, VersionStatus
from reviews import gates, services
from reviews.models import Decision, SignOff
from tests.conftest import PASSWORD, Candidate, evaluation_frame

# What every high-risk version needs before it can pass the gates.
GATED_KINDS = kinds.evidence_kinds()
SEX_ONLY = {"sex": {"privileged": ["male"]}}


def fair_frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Men and women in equal numbers, predictions equal to the labels: fairness passes."""
    frame = evaluation_frame(n=n, seed=seed)
    frame["sex"] = np.where(np.arange(n) % 2 == 0, "male", "female")
    frame["approved"] = frame["repaid"]
    return frame


@functools.cache
def skops_model_bytes() -> bytes:
    """A tiny logistic regression on the candidate's features, saved with skops."""
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = evaluation_frame()
    return dumps(LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"]))


_SHAP_OUTPUTS: dict[tuple[str, str, str], runners.RunOutput] = {}


def _shap_once(version: ModelVersion, params: dict[str, Any], progress) -> runners.RunOutput:
    """SHAP is the slow runner; identical inputs give identical outputs, so compute each once."""
    key = (
        version.model_file.sha256,
        version.evaluation_data.sha256,
        canonical_json(params),
    )
    if key not in _SHAP_OUTPUTS:
        _SHAP_OUTPUTS[key] = runners.run_shap(version, params, progress)
    return copy.deepcopy(_SHAP_OUTPUTS[key])


@pytest.fixture(autouse=True)
def _reports_in_process(settings, monkeypatch):
    """Fewer bootstrap samples, SHAP computed once per input, and nothing ever handed to a
    broker: the tests run reports themselves."""
    settings.GATEHOUSE_BOOTSTRAP_SAMPLES = 100
    # Each test client builds its own middleware, and whitenoise would scan every static
    # file for each one (about 0.2 s); these tests fetch no static files.
    settings.WHITENOISE_USE_FINDERS = False
    shap = kinds.KINDS[kinds.SHAP]
    monkeypatch.setitem(kinds.KINDS, kinds.SHAP, dataclasses.replace(shap, runner=_shap_once))
    monkeypatch.setattr(queue, "report_publish", lambda report_id: None)


def candidate(version: str = "1.0.0", *, frame=None, shap: bool = True) -> Candidate:
    """A submission whose fairness passes (unless ``frame`` says otherwise)."""
    return Candidate(
        version=version,
        frame=fair_frame() if frame is None else frame,
        column_overrides={"protected": SEX_ONLY},
        model_bytes=skops_model_bytes() if shap else None,
    )


def run_reports(version: ModelVersion, kinds=GATED_KINDS) -> dict[str, Report]:
    """Run the newest queued report of each kind, as a worker would."""
    for kind, report in latest_reports(version).items():
        if kind in kinds and report.status == ReportStatus.QUEUED:
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
    return services.signoff_record(actor=actor, version=version, decision=decision, **kwargs)


def check(version: ModelVersion, key: str, **kwargs) -> gates.Check:
    """One gate of the version, evaluated now."""
    return next(c for c in gates.evaluate(fresh(version), **kwargs).checks if c.key == key)


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


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


def ready_version(ci, engineer, reviewer, risk_officer, model, number: str) -> ModelVersion:
    """Another version taken through review to approved, with every gate passing."""
    user, token, _ = ci
    version = register(user, model, number, token=token)
    services.review_request(actor=engineer, version=version)
    sign(version, reviewer)
    sign(version, risk_officer)
    version = fresh(version)
    assert gates.evaluate(version).passed, gates.evaluate(version).failing
    return version
