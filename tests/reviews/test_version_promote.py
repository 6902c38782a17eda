"""Promotion and rollback: who may, when the gates allow it, what is archived, the production
timeline and its API, and the audit trail of the whole review."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.audit.chain import audit_verify
from registry.errors import Conflict, InvalidInput, NotAllowed
from registry.models import AuditEvent, ModelVersion, VersionStatus
from reviews import selectors, services
from reviews.models import ProductionEvent, SignOff
from tests.builders import PASSWORD, client_for, events, fresh, register, web

VERSION = "/api/v1/models/credit-default/versions/{}/"
TIMELINE = "/api/v1/models/credit-default/timeline/"


def statuses(model) -> dict[str, str]:
    return dict(ModelVersion.objects.filter(model=model).values_list("version", "status"))


# --- promotion ------------------------------------------------------------------------------


def test_a_risk_officer_promotes_an_approved_version(approved, risk_officer):
    event = services.version_promote(
        actor=risk_officer, version=approved, reason="first release", replaces=""
    )

    assert fresh(approved).status == VersionStatus.PRODUCTION
    assert (event.action, event.actor, event.reason, event.replaced) == (
        "promoted",
        risk_officer,
        "first release",
        None,
    )
    assert [(a["signer"], a["role"], a["decision"]) for a in event.approvals] == [
        ("rev", "reviewer", "approved"),
        ("risk", "risk_officer", "approved"),
    ]
    (promoted,) = events("version.promoted")
    assert promoted.actor_name == "risk"
    assert promoted.payload["version"] == "1.0.0"
    assert promoted.payload["replaced"] is None
    assert promoted.payload["reason"] == "first release"
    assert promoted.payload["role"] == "risk_officer"  # the role it was done as, kept
    assert promoted.payload["policy_revision"] == 1
    assert len(promoted.payload["approvals"]) == 2
    assert not events("version.archived")


def test_the_audit_page_says_as_what_the_promoter_acted(approved, risk_officer, auditor):
    services.version_promote(actor=risk_officer, version=approved, replaces="")

    html = web(auditor).get("/audit/?action=version.promoted").content.decode()

    assert re.search(r'<p class="sentence">risk \(Risk officer\) promoted <a ', html), html


def test_an_admin_may_promote(approved, admin_user):
    services.version_promote(actor=admin_user, version=approved, replaces="")

    assert fresh(approved).status == VersionStatus.PRODUCTION
    (promoted,) = events("version.promoted")
    assert promoted.payload["role"] == "admin"


def test_others_may_not_promote(approved, reviewer, engineer, auditor, ci_user, outsider):
    for actor in (reviewer, engineer, auditor, ci_user, outsider):
        with pytest.raises(NotAllowed):
            services.version_promote(actor=actor, version=approved, replaces="")

    assert fresh(approved).status == VersionStatus.APPROVED
    assert not ProductionEvent.objects.exists()
    assert not events("version.promoted")


def test_promotion_waits_for_every_gate(in_review, reviewer, risk_officer):
    services.signoff_record(
        actor=reviewer, version=in_review, decision="approved", password=PASSWORD
    )

    with pytest.raises(Conflict) as refused:
        services.version_promote(actor=risk_officer, version=fresh(in_review), replaces="")

    assert refused.value.errors == {"gates": ["approvals"]}
    assert "waiting for 1 more risk officer" in refused.value.message
    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    assert not ProductionEvent.objects.exists()


def test_a_registered_version_is_not_promoted(submitted, risk_officer):
    with pytest.raises(Conflict, match="registered version cannot be promoted"):
        services.version_promote(actor=risk_officer, version=submitted, replaces="")


def test_promotion_archives_the_previous_production_version(replaced):
    first, second = replaced

    assert (first.status, second.status) == (VersionStatus.ARCHIVED, VersionStatus.PRODUCTION)
    assert ModelVersion.objects.filter(status=VersionStatus.PRODUCTION).count() == 1
    latest = ProductionEvent.objects.get(version=second)
    assert latest.replaced == first
    (archived,) = events("version.archived")
    assert archived.object_id == str(first.pk)
    assert archived.payload == {"version": "1.0.0", "replaced_by": "2.0.0"}
    assert [e.payload["replaced"] for e in events("version.promoted")] == [None, "1.0.0"]


def test_promotion_is_refused_when_production_changed_since_the_caller_looked(
    approved, second, risk_officer
):
    services.version_promote(actor=risk_officer, version=approved, replaces="")

    with pytest.raises(Conflict) as refused:
        services.version_promote(actor=risk_officer, version=fresh(second), replaces="")

    assert "replaces" in refused.value.errors
    assert statuses(approved.model) == {"1.0.0": "production", "2.0.0": "approved"}


def test_a_version_already_in_production_is_not_promoted_again(approved, risk_officer):
    services.version_promote(actor=risk_officer, version=approved, replaces="")

    with pytest.raises(Conflict, match="already in production"):
        services.version_promote(actor=risk_officer, version=fresh(approved), replaces="1.0.0")

    assert ProductionEvent.objects.count() == 1


# --- the timeline ---------------------------------------------------------------------------


def test_the_timeline_shows_both_stretches_with_approvals_and_why_the_first_ended(replaced):
    first, second = replaced
    model = first.model

    newest, oldest = selectors.timeline(model)

    assert (newest.event.version, newest.until, newest.ended_by) == (second, None, None)
    assert oldest.event.version == first
    assert oldest.until == newest.event.at
    assert oldest.ended_by == newest.event
    assert oldest.ended_by.reason == "better recall"
    assert oldest.event.reason == "first release"
    assert {a["signer"] for a in oldest.event.approvals} == {"rev", "risk"}
    assert {a["signer"] for a in newest.event.approvals} == {"rev", "risk"}

    # What was in production at a given moment.
    now = timezone.now()
    ProductionEvent.objects.filter(version=first).update(at=now - timedelta(days=10))
    ProductionEvent.objects.filter(version=second).update(at=now - timedelta(days=5))
    assert selectors.production_at(model, now - timedelta(days=11)) is None
    then = selectors.production_at(model, now - timedelta(days=7))
    assert (then.event.version, then.until) == (first, now - timedelta(days=5))
    assert selectors.production_at(model, now - timedelta(days=10)).event.version == first
    assert selectors.production_at(model, now - timedelta(days=5)).event.version == second
    assert selectors.production_at(model, now).event.version == second


def test_the_timeline_api(replaced, auditor):
    client = client_for(auditor)
    response = client.get(TIMELINE)

    assert response.status_code == 200
    newest, oldest = response.json()
    assert (newest["version"], newest["action"], newest["until"]) == ("2.0.0", "promoted", None)
    assert newest["replaced"] == "1.0.0"
    assert newest["ended_by"] is None
    assert (oldest["version"], oldest["replaced"], oldest["actor"]) == ("1.0.0", None, "risk")
    assert oldest["until"] == newest["at"]
    assert oldest["ended_by"]["action"] == "promoted"
    assert oldest["ended_by"]["version"] == "2.0.0"
    assert oldest["ended_by"]["reason"] == "better recall"
    assert [a["role"] for a in oldest["approvals"]] == ["reviewer", "risk_officer"]

    # ?at= returns just the stretch in production at that moment.
    ProductionEvent.objects.filter(version=replaced[0]).update(
        at=timezone.now() - timedelta(days=3)
    )
    then = client.get(TIMELINE, {"at": (timezone.now() - timedelta(days=1)).isoformat()})
    before = client.get(TIMELINE, {"at": (timezone.now() - timedelta(days=4)).isoformat()})
    assert [entry["version"] for entry in then.json()] == ["1.0.0"]
    assert then.json()[0]["ended_by"]["version"] == "2.0.0"
    assert before.json() == []
    bad = client.get(TIMELINE, {"at": "last tuesday"})
    assert bad.status_code == 400
    assert "at" in bad.json()["errors"]


# --- rollback -------------------------------------------------------------------------------


def test_rollback_to_an_archived_version(replaced, risk_officer):
    first, second = replaced

    event = services.version_rollback(
        actor=risk_officer, version=first, reason="2.0.0 misbehaves", replaces="2.0.0"
    )

    assert statuses(first.model) == {"1.0.0": "production", "2.0.0": "archived"}
    assert (event.action, event.replaced, event.reason) == (
        "rolled_back",
        second,
        "2.0.0 misbehaves",
    )
    (rolled,) = events("version.rolled_back")
    assert rolled.payload["version"] == "1.0.0"
    assert rolled.payload["replaced"] == "2.0.0"
    assert rolled.payload["reason"] == "2.0.0 misbehaves"
    assert [e.payload["version"] for e in events("version.archived")] == ["1.0.0", "2.0.0"]
    newest = selectors.timeline(first.model)[0]
    assert (newest.event.action, newest.event.version) == ("rolled_back", first)
    assert audit_verify().ok


def test_rollback_needs_a_reason(replaced, risk_officer):
    with pytest.raises(InvalidInput) as refused:
        services.version_rollback(
            actor=risk_officer, version=replaced[0], reason="  ", replaces="2.0.0"
        )

    assert "reason" in refused.value.errors
    assert statuses(replaced[0].model) == {"1.0.0": "archived", "2.0.0": "production"}


def test_rollback_only_to_versions_that_were_in_production(approved, second, risk_officer):
    services.version_promote(actor=risk_officer, version=approved, replaces="")
    ModelVersion.objects.filter(pk=second.pk).update(status=VersionStatus.ARCHIVED)

    with pytest.raises(Conflict, match="were in production"):
        services.version_rollback(
            actor=risk_officer, version=fresh(second), reason="why not", replaces="1.0.0"
        )


def test_rollback_needs_a_new_review_once_the_policy_changed(replaced, risk_officer):
    services.policy_update(actor=risk_officer, model=replaced[0].model, signoff_valid_days=60)

    with pytest.raises(Conflict) as refused:
        services.version_rollback(
            actor=risk_officer, version=replaced[0], reason="2.0.0 is bad", replaces="2.0.0"
        )

    assert refused.value.errors == {"gates": ["approvals"]}
    assert statuses(replaced[0].model) == {"1.0.0": "archived", "2.0.0": "production"}
    assert not events("version.rolled_back")


def test_rollback_needs_a_new_review_once_its_approvals_expired(replaced, risk_officer):
    SignOff.objects.filter(version=replaced[0]).update(
        signed_at=timezone.now() - timedelta(days=91)
    )

    with pytest.raises(Conflict) as refused:
        services.version_rollback(
            actor=risk_officer, version=replaced[0], reason="2.0.0 is bad", replaces="2.0.0"
        )

    assert refused.value.errors == {"gates": ["approvals"]}
    assert statuses(replaced[0].model) == {"1.0.0": "archived", "2.0.0": "production"}


def test_rollback_is_for_risk_officers_and_admins(replaced, reviewer, engineer, auditor):
    for actor in (reviewer, engineer, auditor):
        with pytest.raises(NotAllowed):
            services.version_rollback(
                actor=actor, version=replaced[0], reason="bad", replaces="2.0.0"
            )

    assert statuses(replaced[0].model) == {"1.0.0": "archived", "2.0.0": "production"}
    assert not events("version.rolled_back")


# --- the API and the audit trail ------------------------------------------------------------


def test_the_whole_review_through_the_api(ci, model, engineer, reviewer, risk_officer):
    user, token, _ = ci
    register(user, model, "1.0.0", token=token)
    register(user, model, "2.0.0", token=token)
    eng, rev, risk = client_for(engineer), client_for(reviewer), client_for(risk_officer)
    sign = {"decision": "approved", "password": PASSWORD}

    for number in ("1.0.0", "2.0.0"):
        url = VERSION.format(number)
        assert eng.post(url + "review-request/", {}, format="json").json()["status"] == "in_review"
        promote = {"replaces": ""}
        assert risk.post(url + "promote/", promote, format="json").status_code == 409
        assert rev.post(url + "signoffs/", sign, format="json").status_code == 201
        signed = risk.post(url + "signoffs/", sign, format="json").json()
        assert signed["version_status"] == "approved"
        assert risk.get(url + "gates/").json()["passed"] is True

    none = {"replaces": ""}
    assert rev.post(VERSION.format("1.0.0") + "promote/", none, format="json").status_code == 403
    promoted = risk.post(
        VERSION.format("1.0.0") + "promote/", {"reason": "launch", "replaces": ""}, format="json"
    )
    assert promoted.status_code == 200, promoted.json()
    assert promoted.json()["version"] == "1.0.0"
    assert promoted.json()["replaced"] is None
    assert [a["signer"] for a in promoted.json()["approvals"]] == ["rev", "risk"]

    stale = risk.post(VERSION.format("2.0.0") + "promote/", {"replaces": ""}, format="json")
    assert stale.status_code == 409
    assert "replaces" in stale.json()["errors"]

    second = risk.post(
        VERSION.format("2.0.0") + "promote/",
        {"reason": "better recall", "replaces": "1.0.0"},
        format="json",
    )
    assert second.status_code == 200
    assert second.json()["replaced"] == "1.0.0"

    no_reason = risk.post(
        VERSION.format("1.0.0") + "rollback/", {"reason": "", "replaces": "2.0.0"}, format="json"
    )
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    rolled = risk.post(
        VERSION.format("1.0.0") + "rollback/",
        {"reason": "2.0.0 drifts", "replaces": "2.0.0"},
        format="json",
    )
    assert rolled.status_code == 200
    assert (rolled.json()["action"], rolled.json()["replaced"]) == ("rolled_back", "2.0.0")

    timeline = risk.get(TIMELINE).json()
    assert [(e["version"], e["action"]) for e in timeline] == [
        ("1.0.0", "rolled_back"),
        ("2.0.0", "promoted"),
        ("1.0.0", "promoted"),
    ]
    assert timeline[1]["ended_by"]["reason"] == "2.0.0 drifts"
    assert statuses(model) == {"1.0.0": "production", "2.0.0": "archived"}

    # Every transition left its audit event, in order, and the chain verifies.
    actions = list(
        AuditEvent.objects.filter(model_name="credit-default")
        .exclude(action__startswith="report.")
        .exclude(action="model.created")
        .values_list("action", flat=True)
    )
    assert actions == [
        "version.registered",
        "version.registered",
        "policy.created",
        "review.requested",
        "signoff.approved",
        "signoff.approved",
        "version.approved",
        "review.requested",
        "signoff.approved",
        "signoff.approved",
        "version.approved",
        "version.promoted",
        "version.archived",
        "version.promoted",
        "version.archived",
        "version.rolled_back",
    ]
    assert audit_verify().ok


def test_the_promote_api_lists_the_failing_gates(in_review, risk_officer):
    response = client_for(risk_officer).post(
        VERSION.format("1.0.0") + "promote/", {"reason": "now", "replaces": ""}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert body["errors"] == {"gates": ["approvals"]}
    assert "Approvals by role" in body["detail"]


def test_the_promote_api_hides_the_model_from_outsiders(approved, outsider):
    response = client_for(outsider).post(
        VERSION.format("1.0.0") + "promote/", {"replaces": ""}, format="json"
    )

    assert response.status_code == 404
    assert fresh(approved).status == VersionStatus.APPROVED


def test_every_promotion_and_rollback_must_say_what_it_replaces(replaced, risk_officer):
    first = replaced[0]
    client = client_for(risk_officer)

    missing = client.post(VERSION.format("1.0.0") + "rollback/", {"reason": "bad"}, format="json")
    null = client.post(
        VERSION.format("1.0.0") + "rollback/", {"reason": "bad", "replaces": None}, format="json"
    )

    for response in (missing, null):
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["replaces"]
    with pytest.raises(TypeError):
        services.version_rollback(actor=risk_officer, version=first, reason="bad")  # type: ignore[call-arg]
    assert statuses(first.model) == {"1.0.0": "archived", "2.0.0": "production"}
    assert not events("version.rolled_back")


def test_a_burst_of_promotions_that_saw_the_same_production_changes_it_once(
    approved, second, risk_officer
):
    """Each caller decided against an empty production; only the first change goes through."""
    outcomes = []
    for version in (approved, second, approved):
        try:
            services.version_promote(actor=risk_officer, version=fresh(version), replaces="")
            outcomes.append("promoted")
        except Conflict as refused:
            outcomes.append(sorted(refused.errors) or refused.message)

    assert outcomes == ["promoted", ["replaces"], "1.0.0 is already in production."]
    assert statuses(approved.model) == {"1.0.0": "production", "2.0.0": "approved"}
    assert ProductionEvent.objects.count() == 1


def test_the_promote_page_refuses_a_form_that_does_not_say_what_it_replaces(
    approved, risk_officer, client
):
    client.force_login(risk_officer)
    url = "/models/credit-default/versions/1.0.0/promote/"

    refused = client.post(url, {"reason": "launch"})
    assert refused.status_code == 400
    assert "did not say what is in production" in refused.content.decode()
    assert fresh(approved).status == VersionStatus.APPROVED

    asked = client.post(url, {"reason": "launch", "replaces": ""})
    assert asked.status_code == 200  # the confirmation step; nothing changed yet
    assert fresh(approved).status == VersionStatus.APPROVED

    done = client.post(url, {"reason": "launch", "replaces": "", "confirmed": "yes"})
    assert done.status_code == 302
    assert fresh(approved).status == VersionStatus.PRODUCTION
