"""The signing box and the production changes as a person sees them: what a signature means
before it is made, what was signed after, and a confirmation step naming the version replaced
before a promotion or a rollback."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.errors import InvalidInput
from registry.models import AuditEvent, ModelVersion, VersionStatus
from reviews import services
from reviews.models import ProductionEvent, SignOff
from reviews.services import MEANINGS
from tests.builders import PASSWORD, fresh, rerun, sign, web


def url(action: str, version: ModelVersion) -> str:
    return reverse(action, args=[version.model.name, version.version])


def text(response) -> str:
    return response.content.decode()


def signing_box(html: str) -> str:
    """The page's review column, where the signing form and its statement are."""
    start = html.index('id="actions-h"')
    return html[start : html.index('id="signoffs-h"')]


# --- before signing ------------------------------------------------------------------------


def test_the_meaning_of_a_signature_is_shown_beside_the_password_before_signing(
    in_review, reviewer
):
    box = signing_box(text(web(reviewer).get(url("version-detail", in_review))))

    meaning = box[box.index('id="signoff-meaning"') : box.index('name="password"')]
    for statement in MEANINGS.values():
        if "inconclusive" not in statement:  # the override is offered to risk officers only
            assert statement in meaning.replace("&#x27;", "'")
    assert "inconclusive fairness verdict for this version" not in meaning
    assert "Signer</dt><dd>rev (rev)" in meaning
    assert "Role</dt><dd>Reviewer" in meaning
    assert "Date and time</dt><dd>the moment you sign, in UTC" in meaning
    assert 'aria-describedby="signoff-meaning"' in box
    assert not SignOff.objects.exists()


# --- after signing -------------------------------------------------------------------------


def test_after_signing_the_box_says_what_was_signed_and_when_instead_of_the_form(
    in_review, reviewer
):
    browser = web(reviewer)

    response = browser.post(
        url("version-sign-off", in_review),
        {"decision": "changes_requested", "comment": "needs a proxy check", "password": PASSWORD},
        follow=True,
    )

    signoff = SignOff.objects.get(version=in_review, user=reviewer)
    box = signing_box(text(response))
    assert response.redirect_chain == [(f"{url('version-detail', in_review)}#signed", 302)]
    assert 'id="signed"' in box
    assert 'id="signoff"' not in box and 'name="password"' not in box
    assert "<strong>Changes requested</strong> as reviewer" in box
    assert signoff.signed_at.strftime("%Y-%m-%d %H:%M:%S") in box
    assert f'datetime="{signoff.signed_at.isoformat()}"' in box
    assert MEANINGS["changes_requested"] in box.replace("&#x27;", "'")
    assert "Comment: needs a proxy check" in box


def test_after_signing_the_decision_banner_no_longer_asks_the_signer_to_sign(in_review, reviewer):
    browser = web(reviewer)
    before = browser.get(url("version-detail", in_review)).context["decision"].next_step

    browser.post(url("version-sign-off", in_review), {"decision": "approved", "password": PASSWORD})
    after = browser.get(url("version-detail", in_review)).context["decision"].next_step

    assert before.href == "#signoff"
    assert after.text == "Nothing for you to do now: waiting for 1 more risk officer."


def test_a_signature_that_no_longer_counts_brings_the_form_back_saying_why(
    in_review, reviewer, risk_officer
):
    browser = web(reviewer)
    browser.post(url("version-sign-off", in_review), {"decision": "approved", "password": PASSWORD})
    services.policy_update(actor=risk_officer, model=in_review.model, signoff_valid_days=30)

    box = signing_box(text(browser.get(url("version-detail", in_review))))

    assert 'id="signed"' not in box
    assert 'id="signoff"' in box
    assert "no longer counts: signed under policy r1; the policy is now r2." in box


def test_a_risk_officer_who_signed_still_sees_only_what_is_left_to_sign(approved, risk_officer):
    box = signing_box(text(web(risk_officer).get(url("version-detail", approved))))

    # The demo data's fairness verdict passes: no override is left to sign.
    assert 'id="signed"' in box
    assert "as risk officer" in box
    assert 'id="signoff"' not in box


# --- promote and roll back: confirm first ----------------------------------------------------------------


def test_a_rollback_without_confirmation_changes_nothing_and_asks_naming_production(
    replaced, risk_officer
):
    first, second = replaced
    since = ProductionEvent.objects.get(version=second).at
    before = AuditEvent.objects.count()

    response = web(risk_officer).post(
        url("version-rollback", first), {"reason": "2.0.0 misbehaves", "replaces": "2.0.0"}
    )

    html = text(response)
    assert response.status_code == 200
    assert (fresh(first).status, fresh(second).status) == ("archived", "production")
    assert AuditEvent.objects.count() == before
    replaced_line = html[html.index('id="replaced"') :]
    assert "<code>2.0.0</code>, in production since" in replaced_line
    assert since.strftime("%Y-%m-%d %H:%M") in replaced_line
    assert "put there by risk" in replaced_line
    assert 'name="confirmed" value="yes"' in html
    assert 'name="replaces" value="2.0.0"' in html
    assert "Confirm rollback, replacing 2.0.0" in html


def test_the_first_promotion_asks_too_and_says_nothing_is_replaced(approved, risk_officer):
    response = web(risk_officer).post(
        url("version-promote", approved), {"reason": "launch", "replaces": ""}
    )

    html = text(response)
    assert response.status_code == 200
    assert fresh(approved).status == VersionStatus.APPROVED
    assert not ProductionEvent.objects.exists()
    assert "Nothing: no version of credit-default is in production now." in html
    assert "Confirm promotion</button>" in html
    assert "Release note</dt><dd>launch</dd>" in html


def test_the_confirmed_promotion_acts_and_names_what_it_replaced(replaced, risk_officer):
    first, second = replaced
    browser = web(risk_officer)
    ask = {"reason": "back to the known good", "replaces": "2.0.0"}
    assert browser.post(url("version-rollback", first), ask).status_code == 200

    response = browser.post(url("version-rollback", first), ask | {"confirmed": "yes"})

    assert response.status_code == 302
    assert (fresh(first).status, fresh(second).status) == ("production", "archived")
    event = ProductionEvent.objects.get(version=first, action="rolled_back")
    assert (event.replaced, event.reason) == (second, "back to the known good")


def test_a_promotion_the_service_would_refuse_is_refused_at_the_confirmation_step(
    in_review, risk_officer, engineer
):
    before = AuditEvent.objects.count()

    gated = web(risk_officer).post(
        url("version-promote", in_review), {"reason": "x", "replaces": ""}
    )
    not_allowed = web(engineer).post(
        url("version-promote", in_review), {"reason": "x", "replaces": ""}
    )

    assert gated.status_code == 400
    assert gated.context["forms"]["promote"].errors["__all__"][0].startswith("Gates not passed")
    assert not_allowed.status_code == 400
    assert not_allowed.context["forms"]["promote"].errors == {
        "__all__": ["Only risk officers and admins promote to production."]
    }
    assert "Confirm promotion" not in text(gated) + text(not_allowed)
    assert AuditEvent.objects.count() == before


def test_an_outsider_gets_404_at_the_confirmation_step(approved, outsider):
    response = web(outsider).post(url("version-promote", approved), {"reason": "x", "replaces": ""})

    assert response.status_code == 404
    assert "credit-default" not in text(response)
    assert fresh(approved).status == VersionStatus.APPROVED


def test_a_role_the_signer_does_not_hold_is_refused_in_words(in_review, reviewer):
    with pytest.raises(InvalidInput) as refused:
        services.signoff_record(
            actor=reviewer,
            version=in_review,
            decision="approved",
            password=PASSWORD,
            role="risk_officer",
        )

    assert refused.value.errors == {
        "role": ["You cannot sign as risk officer; you may sign as reviewer."]
    }
    assert not SignOff.objects.exists()


def test_a_risk_officer_who_approved_an_inconclusive_verdict_is_offered_only_the_override(
    submitted, engineer, risk_officer
):
    report = rerun(submitted, "fairness", bootstrap_samples=0)
    assert report.result["verdict"] == "inconclusive"
    services.review_request(actor=engineer, version=submitted)
    sign(fresh(submitted), risk_officer)
    browser = web(risk_officer)

    approved_box = signing_box(text(browser.get(url("version-detail", submitted))))
    sign(fresh(submitted), risk_officer, "fairness_override", comment="tiny effect")
    overridden_box = signing_box(text(browser.get(url("version-detail", submitted))))

    # The approval shows as signed and the form stays for the override still to sign.
    assert 'id="signed"' in approved_box and 'id="signoff"' in approved_box
    assert "inconclusive fairness verdict for this version" in approved_box
    # Both signatures in: the form gives way.
    assert overridden_box.count('class="meaning"') == 2
    assert 'id="signoff"' not in overridden_box
