"""The gates: when approvals stop counting (reports re-run, policy changed, expiry), and the
checks on fairness, KPIs and required reports; the gates and review-policy API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from registry import services as registry_services
from registry.audit.chain import audit_verify
from registry.errors import Conflict, InvalidInput, NotAllowed
from registry.models import VersionStatus
from reviews import gates, services
from reviews.models import Decision, ReviewPolicy, SignOff
from tests.builders import check, client_for, evaluation_frame, events, fresh, register, rerun, sign

GATES = "/api/v1/models/credit-default/versions/1.0.0/gates/"
POLICY = "/api/v1/models/credit-default/review-policy/"


def standings(version) -> list[tuple[str, bool, str]]:
    return [
        (s.signoff.user.username, s.counts, s.reason)
        for s in gates.evaluate(fresh(version)).standings
    ]


def promote_refused(version, actor) -> Conflict:
    with pytest.raises(Conflict) as refused:
        services.version_promote(actor=actor, version=fresh(version), reason="go", replaces="")
    assert fresh(version).status != VersionStatus.PRODUCTION
    assert not events("version.promoted")
    return refused.value


# --- approvals that stop counting -----------------------------------------------------------


def test_every_gate_passes_for_an_approved_version(approved):
    result = gates.evaluate(approved)

    assert result.passed
    assert [c.key for c in result.checks] == [
        "status",
        "approvals",
        "objections",
        "separation_of_duties",
        "reports",
        "fairness",
        "kpis",
    ]
    assert [(s.signoff.user.username, s.counts) for s in result.standings] == [
        ("rev", True),
        ("risk", True),
    ]


def test_re_running_a_report_voids_earlier_approvals(approved, risk_officer):
    report = rerun(approved, "fairness", seed=7)

    assert report.status == "succeeded"
    assert report.result["verdict"] == "pass"
    assert {(user, counts) for user, counts, _ in standings(approved)} == {
        ("rev", False),
        ("risk", False),
    }
    assert all("reports changed" in reason for _, _, reason in standings(approved))
    approvals = check(approved, "approvals")
    assert not approvals.passed
    assert approvals.details["have"] == {"reviewer": 0, "risk_officer": 0}
    refused = promote_refused(approved, risk_officer)
    assert refused.errors == {"gates": ["approvals"]}


def test_new_approvals_on_the_new_reports_count_again(approved, reviewer, risk_officer):
    rerun(approved, "fairness", seed=7)

    sign(fresh(approved), reviewer)
    sign(fresh(approved), risk_officer)

    assert gates.evaluate(fresh(approved)).passed
    assert [counts for _, counts, _ in standings(approved)] == [False, False, True, True]


def test_a_policy_change_voids_approvals_under_the_older_revision(approved, risk_officer):
    policy = services.policy_update(actor=risk_officer, model=approved.model, signoff_valid_days=30)

    assert policy.revision == 2
    assert all(
        reason == "signed under policy r1; the policy is now r2"
        for _, _, reason in standings(approved)
    )
    assert not check(approved, "approvals").passed
    (changed,) = events("policy.changed")
    assert changed.actor_name == "risk"
    assert changed.payload["from"]["revision"] == 1
    assert changed.payload["to"]["revision"] == 2
    assert changed.payload["to"]["signoff_valid_days"] == 30
    promote_refused(approved, risk_officer)
    assert audit_verify().ok


def test_an_expired_sign_off_does_not_count(approved, risk_officer):
    later = timezone.now() + timedelta(days=91)

    result = gates.evaluate(approved, now=later)

    assert not result.passed
    assert [c.key for c in result.failing] == ["approvals"]
    assert all(not s.counts and s.reason.startswith("expired on") for s in result.standings)
    assert gates.evaluate(approved, now=timezone.now() + timedelta(days=89)).passed


def test_a_shorter_validity_expires_old_sign_offs(approved, reviewer, risk_officer):
    services.policy_update(actor=risk_officer, model=approved.model, signoff_valid_days=5)
    sign(fresh(approved), reviewer)
    sign(fresh(approved), risk_officer)
    assert gates.evaluate(fresh(approved)).passed

    SignOff.objects.filter(policy_revision=2).update(signed_at=timezone.now() - timedelta(days=6))

    current = [
        s for s in gates.evaluate(fresh(approved)).standings if s.signoff.policy_revision == 2
    ]
    assert [(s.counts, s.reason[:10]) for s in current] == [(False, "expired on")] * 2
    refused = promote_refused(approved, risk_officer)
    assert "Approvals by role: waiting for 1 more reviewer" in refused.message
    assert refused.errors == {"gates": ["approvals"]}


# --- fairness -------------------------------------------------------------------------------


@pytest.fixture
def inconclusive(submitted, engineer):
    """In review, with a fairness report computed without intervals: verdict inconclusive."""
    report = rerun(submitted, "fairness", bootstrap_samples=0)
    assert report.result["verdict"] == "inconclusive"
    services.review_request(actor=engineer, version=submitted)
    return fresh(submitted)


def test_an_inconclusive_verdict_blocks_until_a_risk_officer_overrides(
    inconclusive, reviewer, risk_officer
):
    sign(inconclusive, reviewer)
    sign(inconclusive, risk_officer)
    fairness = check(inconclusive, "fairness")
    assert not fairness.passed
    assert fairness.reason == "inconclusive: needs a risk officer's override with a justification"
    assert fresh(inconclusive).status == VersionStatus.APPROVED
    promote_refused(inconclusive, risk_officer)

    override = sign(
        fresh(inconclusive), risk_officer, Decision.FAIRNESS_OVERRIDE, comment="tiny effect"
    )

    assert override.role == "risk_officer"
    fairness = check(inconclusive, "fairness")
    assert fairness.passed
    assert fairness.reason == "inconclusive, accepted by risk: tiny effect"
    assert gates.evaluate(fresh(inconclusive)).passed
    (event,) = events("signoff.fairness_override")
    assert event.payload["comment"] == "tiny effect"


def test_a_reviewer_cannot_override(inconclusive, reviewer):
    with pytest.raises(NotAllowed, match="Only a risk officer"):
        sign(inconclusive, reviewer, Decision.FAIRNESS_OVERRIDE, comment="fine by me")

    assert not SignOff.objects.exists()
    assert not check(inconclusive, "fairness").passed


def test_an_override_needs_a_justification(inconclusive, risk_officer):
    with pytest.raises(InvalidInput) as refused:
        sign(inconclusive, risk_officer, Decision.FAIRNESS_OVERRIDE, comment="")

    assert "comment" in refused.value.errors
    assert not SignOff.objects.exists()


def test_a_passing_verdict_cannot_be_overridden(in_review, risk_officer):
    with pytest.raises(Conflict, match="this one is pass") as refused:
        sign(in_review, risk_officer, Decision.FAIRNESS_OVERRIDE, comment="why not")

    assert "decision" in refused.value.errors
    assert not SignOff.objects.exists()


@pytest.fixture
def unfair(ci, model, engineer, reviewer, risk_officer):
    """Approved by both roles, but its predictions favour men: fairness fails."""
    user, token, _ = ci
    version = register(user, model, token=token, frame=evaluation_frame())
    services.review_request(actor=engineer, version=version)
    sign(fresh(version), reviewer)
    sign(fresh(version), risk_officer)
    return fresh(version)


def test_a_failed_fairness_verdict_blocks_promotion(unfair, risk_officer):
    fairness = check(unfair, "fairness")

    assert not fairness.passed
    assert fairness.details["verdict"] == "fail"
    # The reason names the metric, the groups, the number with its interval, and the band.
    first = fairness.details["failing"][0]
    assert re.fullmatch(
        r"(Statistical parity difference|Disparate impact|Equal opportunity difference|"
        r"Average odds difference), sex (\(all unprivileged\)|\w+) vs male: -?\d\.\d\d "
        r"\[95% CI -?\d\.\d\d to -?\d\.\d\d\], policy (within ±0\.10|0\.80 to 1\.25)",
        first,
    ), first
    assert fairness.reason.startswith("fail: " + first)
    assert unfair.status == VersionStatus.APPROVED
    assert promote_refused(unfair, risk_officer).errors == {"gates": ["fairness"]}


def test_a_failed_verdict_cannot_be_overridden(unfair, risk_officer):
    with pytest.raises(Conflict, match="this one is fail"):
        sign(unfair, risk_officer, Decision.FAIRNESS_OVERRIDE, comment="ship it")

    assert not check(unfair, "fairness").passed


def test_the_policy_may_waive_the_fairness_check(unfair, risk_officer, reviewer):
    services.policy_update(
        actor=risk_officer, model=unfair.model, require_fairness_not_failed=False
    )

    assert check(unfair, "fairness").reason == "not required by the policy"


# --- KPIs and required reports --------------------------------------------------------------


BLOCKING_KPI = {
    "name": "Manual review rate",
    "metric_key": "manual_review_rate",
    "comparator": "<=",
    "target": 0.1,
    "unit": "share",
    "blocking": True,
}


def test_a_blocking_kpi_not_met_blocks(model, engineer, ci, reviewer, risk_officer):
    registry_services.objective_create(
        actor=engineer, model=model, title="Less manual work", kpis=[BLOCKING_KPI]
    )
    user, token, _ = ci
    version = register(user, model, token=token)  # CI reports manual_review_rate 0.2
    services.review_request(actor=engineer, version=version)
    sign(fresh(version), reviewer)
    sign(fresh(version), risk_officer)

    kpis = check(version, "kpis")
    assert not kpis.passed
    assert kpis.reason == "not met or missing: manual_review_rate"
    assert check(version, "reports").passed
    assert promote_refused(version, risk_officer).errors == {"gates": ["kpis"]}


def test_kpis_defined_after_the_reports_make_them_stale(approved, engineer):
    registry_services.objective_create(
        actor=engineer, model=approved.model, title="Less manual work", kpis=[BLOCKING_KPI]
    )

    reports = check(approved, "reports")
    assert not reports.passed
    assert "kpi report predates the current fairness policy or KPIs" in reports.reason

    rerun(approved, "kpi")  # with the new default params, which include the KPI
    assert check(approved, "reports").passed
    assert not check(approved, "kpis").passed


def test_a_high_risk_version_without_a_shap_report_is_blocked(
    model, engineer, ci, reviewer, risk_officer
):
    user, token, _ = ci
    version = register(user, model, token=token, shap=False)
    services.review_request(actor=engineer, version=version)
    sign(fresh(version), reviewer)
    sign(fresh(version), risk_officer)

    reports = check(version, "reports")
    assert not reports.passed
    assert reports.reason == "no shap report"
    assert reports.details == {"required": ["fairness", "performance", "kpi", "shap"]}
    assert promote_refused(version, risk_officer).errors == {"gates": ["reports"]}

    services.policy_update(actor=risk_officer, model=model, require_shap_report=False)
    sign(fresh(version), reviewer)
    sign(fresh(version), risk_officer)
    assert gates.evaluate(fresh(version)).passed


def test_a_report_still_running_blocks(ci, model, engineer):
    user, token, _ = ci
    version = register(user, model, token=token, run=False)

    reports = check(version, "reports")
    assert not reports.passed
    assert "fairness report is queued" in reports.reason
    assert check(version, "fairness").reason == "no fairness result yet"


# --- the API --------------------------------------------------------------------------------


def test_the_gates_api_returns_the_evaluation(approved, auditor):
    response = client_for(auditor).get(GATES)

    assert response.status_code == 200
    body = response.json()
    assert body == gates.evaluate(approved).as_dict()
    assert body["passed"] is True
    assert body["policy"]["required_approvals"] == {"reviewer": 1, "risk_officer": 1}
    assert [s["username"] for s in body["signoffs"]] == ["rev", "risk"]


def test_the_gates_api_shows_why_a_gate_fails(in_review, engineer):
    body = client_for(engineer).get(GATES).json()

    assert body["passed"] is False
    approvals = next(c for c in body["checks"] if c["key"] == "approvals")
    assert approvals["reason"] == "waiting for 1 more reviewer, 1 more risk officer"


def test_the_policy_api_shows_the_tier_defaults_before_anything_is_saved(model, engineer):
    body = client_for(engineer).get(POLICY).json()

    assert body == {
        "model": "credit-default",
        "revision": 1,
        "required_approvals": {"reviewer": 1, "risk_officer": 1},
        "require_fairness_not_failed": True,
        "require_blocking_kpis_met": True,
        "require_shap_report": True,
        "signoff_valid_days": 90,
        "saved": False,
        "created_by": None,
        "created_at": None,
    }


def test_a_risk_officer_changes_the_policy_through_the_api(in_review, risk_officer):
    response = client_for(risk_officer).patch(
        POLICY, {"required_approvals": {"reviewer": 2}, "signoff_valid_days": 30}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["revision"], body["saved"], body["created_by"]) == (2, True, "risk")
    assert body["required_approvals"] == {"reviewer": 2}
    assert body["require_shap_report"] is True
    stored = ReviewPolicy.objects.get(model=in_review.model, revision=2)
    assert stored.signoff_valid_days == 30
    (changed,) = events("policy.changed")
    assert changed.payload["to"]["required_approvals"] == {"reviewer": 2}
    assert client_for(risk_officer).get(POLICY).json()["revision"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"required_approvals": {"auditor": 1}}, "required_approvals"),
        ({"required_approvals": {"reviewer": 0}}, "required_approvals.reviewer"),
        ({"signoff_valid_days": 0}, "signoff_valid_days"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_policy_changes_are_refused_with_the_field(model, risk_officer, body, field):
    response = client_for(risk_officer).patch(POLICY, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ReviewPolicy.objects.exists()
    assert not events("policy.changed")


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("engineer", 403), ("auditor", 403), ("outsider", 404)]
)
def test_only_risk_officers_and_admins_change_the_policy(model, who, status, request):
    response = client_for(request.getfixturevalue(who)).patch(
        POLICY, {"signoff_valid_days": 10}, format="json"
    )

    assert response.status_code == status
    assert not ReviewPolicy.objects.exists()


def test_an_admin_changes_the_policy(model, admin_user):
    response = client_for(admin_user).patch(POLICY, {"require_shap_report": False}, format="json")

    assert response.status_code == 200
    assert response.json()["revision"] == 1
    assert events("policy.changed")[0].actor_name == "adm"
