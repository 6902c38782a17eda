"""Sign-offs bind to finished evidence; a LIME report finishing later, or an unchanged
policy save, does not void them; leaving the owning team does."""

from __future__ import annotations

import pytest

from explain import kinds
from explain.models import ReportStatus
from explain.selectors import latest_reports
from explain.services import report_run
from registry.errors import Conflict
from reviews import services
from tests.builders import check, fresh, register, rerun, sign


def test_approval_waits_for_the_evidence(ci, model, engineer, reviewer):
    version = register(ci[0], model, token=ci[1], run=False)
    services.review_request(actor=engineer, version=version)

    with pytest.raises(Conflict) as refused:
        sign(fresh(version), reviewer)

    assert "fairness" in refused.value.message
    assert not version.signoffs.exists()
    # A rejection or request for changes needs no finished evidence.
    sign(fresh(version), reviewer, "changes_requested")
    assert version.signoffs.count() == 1


def test_a_lime_report_finishing_later_keeps_approvals_counting(ci, model, engineer, reviewer):
    version = register(ci[0], model, token=ci[1])
    lime = latest_reports(version)[kinds.LIME]
    assert lime.status == ReportStatus.QUEUED
    services.review_request(actor=engineer, version=version)
    sign(fresh(version), reviewer)

    report_run(report_id=lime.pk)

    assert latest_reports(version)[kinds.LIME].status == ReportStatus.SUCCEEDED
    approvals = check(version, "approvals")
    assert approvals.details["have"]["reviewer"] == 1


def test_a_shap_rerun_voids_approvals(ci, model, engineer, reviewer):
    version = register(ci[0], model, token=ci[1])
    services.review_request(actor=engineer, version=version)
    sign(fresh(version), reviewer)

    rerun(version, kinds.SHAP, max_rows=50)

    assert check(version, "approvals").details["have"]["reviewer"] == 0


def test_an_unchanged_policy_save_makes_no_revision(approved, risk_officer):
    first = services.policy_update(actor=risk_officer, model=approved.model, signoff_valid_days=90)
    again = services.policy_update(actor=risk_officer, model=approved.model, signoff_valid_days=90)

    assert again.pk == first.pk
    assert approved.model.review_policies.count() == 1
    assert check(approved, "approvals").passed


def test_a_signer_who_left_the_team_no_longer_counts(approved, reviewer, team):
    team.members.remove(reviewer)

    approvals = check(approved, "approvals")

    assert not approvals.passed
    standing = [
        s for s in services.gates.evaluate(fresh(approved)).standings if s.signoff.user == reviewer
    ]
    assert standing[0].reason == "the signer is no longer in the owning team"
