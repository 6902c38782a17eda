"""Signing off: re-authentication, comments, separation of duties, approvals by role, and the
sign-off API over session (with CSRF) and personal tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from registry import services as registry_services
from registry.errors import Conflict, InvalidInput, NotAllowed
from registry.models import VersionStatus
from registry.roles import Role
from reviews import gates, services
from reviews.models import Decision, SignOff
from tests.builders import PASSWORD, check, client_for, events, fresh, make_user, register, sign

URL = "/api/v1/models/credit-default/versions/1.0.0/signoffs/"
APPROVE = {"decision": "approved", "comment": "looks right", "password": PASSWORD}


# --- re-authentication and comments ---------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong", ""])
def test_a_wrong_password_is_refused_and_nothing_is_stored(in_review, reviewer, password):
    with pytest.raises(InvalidInput) as refused:
        sign(in_review, reviewer, password=password)

    assert "password" in refused.value.errors
    assert not SignOff.objects.exists()
    assert not events("signoff.approved")
    assert fresh(in_review).status == VersionStatus.IN_REVIEW


def test_the_api_names_the_password_field(in_review, reviewer):
    response = client_for(reviewer).post(URL, {**APPROVE, "password": "nope"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not SignOff.objects.exists()


def test_the_api_requires_the_password_every_time(in_review, reviewer):
    client = client_for(reviewer)
    objection = {"decision": "changes_requested", "comment": "add Q3", "password": PASSWORD}
    assert client.post(URL, objection, format="json").status_code == 201

    response = client.post(URL, {"decision": "approved"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert SignOff.objects.get().decision == "changes_requested"


@pytest.mark.parametrize("decision", ["rejected", "changes_requested"])
def test_objections_need_a_comment(in_review, reviewer, decision):
    with pytest.raises(InvalidInput) as refused:
        sign(in_review, reviewer, decision, comment="   ")

    assert "comment" in refused.value.errors
    assert not SignOff.objects.exists()


def test_a_rejection_ends_the_review(in_review, reviewer, risk_officer):
    signoff = sign(in_review, reviewer, Decision.REJECTED, comment="the data is stale")

    version = fresh(in_review)
    assert version.status == VersionStatus.REJECTED
    assert signoff.comment == "the data is stale"
    assert signoff.meaning.startswith("I have reviewed this version and reject it")
    (signed,) = events("signoff.rejected")
    assert signed.payload["comment"] == "the data is stale"
    assert signed.payload["reauthenticated"] is True
    (rejected,) = events("version.rejected")
    assert rejected.payload == {"version": "1.0.0"}
    # Nobody signs a rejected version any more.
    with pytest.raises(Conflict):
        sign(version, risk_officer)


def test_changes_requested_blocks_promotion_without_ending_the_review(in_review, reviewer):
    sign(in_review, reviewer, Decision.CHANGES_REQUESTED, comment="add the Q3 data")

    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    objections = check(in_review, "objections")
    assert not objections.passed
    assert "add the Q3 data" in objections.reason


def test_sign_offs_happen_only_while_in_review(submitted, reviewer):
    with pytest.raises(Conflict, match="while in review"):
        sign(submitted, reviewer)

    assert not SignOff.objects.exists()


# --- who signs ------------------------------------------------------------------------------


def test_the_signature_records_who_what_when_and_on_exactly_what(in_review, reviewer):
    signoff = sign(in_review, reviewer, comment="fine")

    result = gates.evaluate(fresh(in_review))
    assert signoff.user == reviewer
    assert signoff.signer_name == "rev"
    assert signoff.role == "reviewer"
    assert signoff.policy_revision == 1
    assert signoff.subject["content_sha256"] == in_review.content_sha256
    assert set(signoff.subject["reports"]) >= {"fairness", "performance", "kpi", "shap"}
    assert signoff.subject_sha256 == result.subject_sha256
    (event,) = events("signoff.approved")
    assert event.actor_name == "rev"
    assert event.payload["subject_sha256"] == signoff.subject_sha256
    assert event.payload["meaning"] == signoff.meaning


def test_the_ci_account_can_never_sign(in_review, ci_user):
    with pytest.raises(NotAllowed, match="CI accounts never"):
        sign(in_review, ci_user)

    assert not SignOff.objects.exists()


def test_people_without_a_signing_role_cannot_sign(in_review, engineer, auditor, admin_user):
    for actor in (engineer, auditor, admin_user):
        with pytest.raises(NotAllowed, match="Only reviewers and risk officers"):
            sign(in_review, actor)

    assert not SignOff.objects.exists()


def test_the_submitter_cannot_approve(model, team):
    """An ML engineer who also reviews submits a version: they may not approve it."""
    submitter = make_user("engrev", [Role.ML_ENGINEER, Role.REVIEWER], [team])
    version = register(submitter, model, run=False)
    services.review_request(actor=submitter, version=version)

    with pytest.raises(NotAllowed, match="Separation of duties"):
        sign(fresh(version), submitter)
    response = client_for(submitter).post(URL, APPROVE, format="json")

    assert response.status_code == 403
    assert not SignOff.objects.exists()
    assert not events("signoff.approved")


def test_a_submitter_outside_the_engineers_cannot_approve_either(model, team, engineer):
    """An admin who also reviews submits a version: excluded as its submitter."""
    submitter = make_user("sub", [Role.ADMIN, Role.REVIEWER], [team])
    version = register(submitter, model, run=False)
    services.review_request(actor=engineer, version=version)

    with pytest.raises(NotAllowed, match="Separation of duties"):
        sign(fresh(version), submitter)

    assert not SignOff.objects.exists()


def test_the_owning_engineers_cannot_approve(model, team, engineer):
    """An ML engineer of the owning team who also reviews may not approve the team's models."""
    owner = make_user("owner", [Role.ML_ENGINEER, Role.REVIEWER], [team])
    version = register(engineer, model, run=False)
    services.review_request(actor=engineer, version=version)

    with pytest.raises(NotAllowed, match="Separation of duties"):
        sign(fresh(version), owner)

    # ... but they may still object.
    objection = sign(fresh(version), owner, Decision.CHANGES_REQUESTED, comment="one more run")
    assert objection.decision == Decision.CHANGES_REQUESTED
    assert SignOff.objects.count() == 1


def test_an_approval_from_someone_who_later_joins_the_engineers_stops_counting(
    in_review, team, reviewer
):
    sign(in_review, reviewer)
    registry_services.user_assign_roles(
        actor=None, user=reviewer, roles=["reviewer", "ml_engineer"], teams=[team]
    )

    (standing,) = gates.evaluate(fresh(in_review)).standings
    assert not standing.counts
    assert "separation of duties" in standing.reason


# --- approvals by role ----------------------------------------------------------------------


def test_a_reviewer_alone_does_not_approve_a_high_risk_model(in_review, reviewer):
    sign(in_review, reviewer)

    approvals = check(in_review, "approvals")
    assert not approvals.passed
    assert approvals.reason == "waiting for 1 more risk officer"
    assert approvals.details["have"] == {"reviewer": 1, "risk_officer": 0}
    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    assert not events("version.approved")


def test_two_reviewers_do_not_make_a_risk_officer(in_review, reviewer, team):
    sign(in_review, reviewer)
    sign(in_review, make_user("rev2", [Role.REVIEWER], [team]))

    assert not check(in_review, "approvals").passed
    assert fresh(in_review).status == VersionStatus.IN_REVIEW


def test_a_reviewer_and_a_risk_officer_approve_it(in_review, reviewer, risk_officer):
    sign(in_review, reviewer)
    sign(in_review, risk_officer)

    approvals = check(in_review, "approvals")
    assert approvals.passed
    assert approvals.details["have"] == {"reviewer": 1, "risk_officer": 1}
    assert fresh(in_review).status == VersionStatus.APPROVED
    (event,) = events("version.approved")
    assert event.actor_name == "risk"
    assert event.payload == {"version": "1.0.0"}
    assert [e.payload["role"] for e in events("signoff.approved")] == ["reviewer", "risk_officer"]


def test_one_person_counts_once_whatever_roles_they_hold(in_review, team):
    both = make_user("both", [Role.REVIEWER, Role.RISK_OFFICER], [team])
    sign(in_review, both, role="reviewer")
    sign(in_review, both, role="risk_officer")

    assert not check(in_review, "approvals").passed
    assert fresh(in_review).status == VersionStatus.IN_REVIEW


def test_one_cannot_sign_in_a_role_one_does_not_hold(in_review, reviewer):
    with pytest.raises(InvalidInput) as refused:
        sign(in_review, reviewer, role="risk_officer")

    assert "role" in refused.value.errors
    assert not SignOff.objects.exists()


# --- the API --------------------------------------------------------------------------------


def test_signing_through_the_api(in_review, reviewer, risk_officer):
    first = client_for(reviewer).post(URL, APPROVE, format="json")
    second = client_for(risk_officer).post(URL, APPROVE, format="json")

    assert first.status_code == 201, first.json()
    assert second.status_code == 201, second.json()
    body = first.json()
    stored = SignOff.objects.get(pk=body["id"])
    assert body["signer"] == "rev"
    assert body["username"] == "rev"
    assert body["role"] == "reviewer"
    assert body["decision"] == "approved"
    assert body["meaning"] == stored.meaning
    assert body["comment"] == "looks right"
    assert body["policy_revision"] == 1
    assert body["subject_sha256"] == stored.subject_sha256
    assert (body["counts"], body["reason"]) == (True, "counts")
    assert body["version_status"] == "in_review"
    assert "password" not in body
    assert second.json()["version_status"] == "approved"
    assert PASSWORD not in str([e.payload for e in events("signoff.approved")])


def test_listing_sign_offs_shows_whether_each_still_counts(in_review, reviewer, risk_officer):
    sign(in_review, reviewer)
    sign(in_review, risk_officer)
    registry_services.user_assign_roles(actor=None, user=reviewer, roles=[])

    response = client_for(risk_officer).get(URL)

    assert response.status_code == 200
    rows = response.json()
    assert [(r["username"], r["role"], r["counts"]) for r in rows] == [
        ("rev", "reviewer", False),
        ("risk", "risk_officer", True),
    ]
    assert rows[0]["reason"] == "the signer no longer holds the reviewer role"
    assert {
        "signer",
        "meaning",
        "comment",
        "signed_at",
        "policy_revision",
        "subject_sha256",
    } <= set(rows[0])


def test_a_ci_token_gets_403(in_review, ci):
    response = client_for(secret=ci[2]).post(URL, APPROVE, format="json")

    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_an_outsider_gets_404(in_review, outsider):
    assert client_for(outsider).post(URL, APPROVE, format="json").status_code == 404
    assert client_for(outsider).get(URL).status_code == 404
    assert not SignOff.objects.exists()


def test_a_personal_token_may_sign(in_review, reviewer):
    issued = registry_services.token_issue(actor=reviewer, user=reviewer, name="laptop")

    response = client_for(secret=issued.secret).post(URL, APPROVE, format="json")

    assert response.status_code == 201, response.json()
    assert SignOff.objects.get().user == reviewer


def test_session_sign_offs_need_the_csrf_token(in_review, reviewer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)

    forged = browser.post(URL, APPROVE, content_type="application/json")

    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    assert not SignOff.objects.exists()

    secret = "a" * 32
    browser.cookies["csrftoken"] = secret
    signed = browser.post(URL, APPROVE, content_type="application/json", HTTP_X_CSRFTOKEN=secret)

    assert signed.status_code == 201, signed.json()
    assert SignOff.objects.get().user == reviewer
