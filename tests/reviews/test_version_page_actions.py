"""The version page's forms, posted as a browser posts them: request review, sign off,
promote, roll back, and explain a row.

For each: the happy path (data changed, audit event written, redirect back to the form with a
message), an outsider (404: the model does not exist for them), a missing or invalid field
(the page again, 400, the error on that field, nothing stored) and the wrong state (the
page again, 400, the service's refusal above the form). The profile's token forms, the
audit page's chain check and logout have their own tests (``tests/registry/test_web.py``,
``tests/audit/test_audit_page.py``).
"""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from explain.models import Report
from registry.models import AuditEvent, ModelVersion, VersionStatus
from reviews.models import ProductionEvent, ReviewRequest, SignOff
from tests.builders import PASSWORD, events, fresh, web


def url(action: str, version: ModelVersion) -> str:
    return reverse(action, args=[version.model.name, version.version])


def page(version: ModelVersion) -> str:
    return url("version-detail", version)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def form_errors(response, form: str) -> dict[str, list[str]]:
    """The errors of one of the page's forms, by field (``__all__`` above the form)."""
    return {field: list(errs) for field, errs in response.context["forms"][form].errors.items()}


def done(response, version: ModelVersion, anchor: str, message: str) -> None:
    """Redirected back to the form's place on the page, which then shows ``message``."""
    assert response.redirect_chain == [(f"{page(version)}#{anchor}", 302)]
    assert message in messages_of(response)


def audit_count() -> int:
    return AuditEvent.objects.count()


# --- CSRF ----------------------------------------------------------------------------------


def test_a_form_posted_without_its_csrf_token_is_refused_and_stores_nothing(submitted, engineer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(engineer)
    before = audit_count()

    response = browser.post(url("version-request-review", submitted), {"note": "ready"})

    assert response.status_code == 403
    assert fresh(submitted).status == VersionStatus.REGISTERED
    assert not ReviewRequest.objects.exists()
    assert audit_count() == before


def test_the_same_form_with_the_token_from_the_page_goes_through(submitted, engineer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(engineer)
    shown = browser.get(page(submitted)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', shown).group(1)

    response = browser.post(
        url("version-request-review", submitted),
        {"note": "ready", "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    assert fresh(submitted).status == VersionStatus.IN_REVIEW


# --- request review ------------------------------------------------------------------------


def test_request_review_sends_the_version_to_review(submitted, engineer):
    response = web(engineer).post(
        url("version-request-review", submitted), {"note": "ready"}, follow=True
    )

    done(response, submitted, "review", "Review requested for 1.0.0.")
    assert fresh(submitted).status == VersionStatus.IN_REVIEW
    assert ReviewRequest.objects.get(version=submitted).note == "ready"
    (event,) = events("review.requested")
    assert (event.actor_name, event.payload["note"]) == ("eng", "ready")


def test_request_review_of_a_version_already_in_review_says_why_not(in_review, engineer):
    before = audit_count()

    response = web(engineer).post(url("version-request-review", in_review), {"note": "again"})

    assert response.status_code == 400
    assert form_errors(response, "review") == {
        "__all__": ["Only registered versions can be sent to review; this one is in_review."]
    }
    assert ReviewRequest.objects.filter(version=in_review).count() == 1
    assert audit_count() == before


def test_request_review_by_a_reviewer_is_refused_on_the_form(submitted, reviewer):
    response = web(reviewer).post(url("version-request-review", submitted), {"note": "x"})

    assert response.status_code == 400
    assert form_errors(response, "review") == {
        "__all__": ["Only the owning team's ML engineers (or an admin) request reviews."]
    }
    assert fresh(submitted).status == VersionStatus.REGISTERED


# --- sign off ------------------------------------------------------------------------------


def test_sign_off_records_the_signature(in_review, reviewer):
    response = web(reviewer).post(
        url("version-sign-off", in_review),
        {"decision": "approved", "password": PASSWORD},
        follow=True,
    )

    done(response, in_review, "signed", "Signed: approved for 1.0.0.")
    signoff = SignOff.objects.get(version=in_review)
    assert (signoff.user, signoff.decision) == (reviewer, "approved")
    (event,) = events("signoff.approved")
    assert event.actor_name == "rev"


INVALID_SIGN_OFFS = [
    ({"decision": "approved"}, "password", "This field is required."),
    ({"password": PASSWORD}, "decision", "This field is required."),
    (
        {"decision": "maybe", "password": PASSWORD},
        "decision",
        "Select a valid choice. maybe is not one of the available choices.",
    ),
    (
        {"decision": "rejected", "password": PASSWORD},
        "comment",
        "A comment is required for this decision.",
    ),
]


def test_a_sign_off_with_a_missing_or_invalid_field_stores_nothing(in_review, reviewer):
    before = audit_count()
    browser = web(reviewer)

    for posted, field, error in INVALID_SIGN_OFFS:
        response = browser.post(url("version-sign-off", in_review), posted)

        assert response.status_code == 400, posted
        assert form_errors(response, "signoff") == {field: [error]}, posted
    assert not SignOff.objects.exists()
    assert audit_count() == before


def test_a_wrong_password_stores_no_signature_and_records_the_failure(in_review, reviewer):
    response = web(reviewer).post(
        url("version-sign-off", in_review), {"decision": "approved", "password": "wrong"}
    )

    assert response.status_code == 400
    assert list(form_errors(response, "signoff")) == ["password"]
    assert not SignOff.objects.exists()
    assert len(events("signoff.failed")) == 1


def test_signing_a_version_not_in_review_says_why_not(submitted, reviewer):
    before = audit_count()

    response = web(reviewer).post(
        url("version-sign-off", submitted), {"decision": "approved", "password": PASSWORD}
    )

    assert response.status_code == 400
    (message,) = form_errors(response, "signoff")["__all__"]
    assert "registered" in message
    assert not SignOff.objects.exists()
    assert audit_count() == before


# --- promote -------------------------------------------------------------------------------


def test_promote_puts_the_version_in_production(approved, risk_officer):
    response = web(risk_officer).post(
        url("version-promote", approved),
        {"reason": "launch", "replaces": "", "confirmed": "yes"},
        follow=True,
    )

    done(response, approved, "promote", "1.0.0 is now in production.")
    assert fresh(approved).status == VersionStatus.PRODUCTION
    (event,) = events("version.promoted")
    assert (event.actor_name, event.payload["reason"]) == ("risk", "launch")


def test_a_promotion_form_that_does_not_say_what_is_in_production_is_refused(
    approved, risk_officer
):
    before = audit_count()

    response = web(risk_officer).post(url("version-promote", approved), {"reason": "launch"})

    assert response.status_code == 400
    assert form_errors(response, "promote") == {
        "__all__": ["Reload the page: it did not say what is in production."]
    }
    assert fresh(approved).status == VersionStatus.APPROVED
    assert audit_count() == before


def test_promoting_against_a_stale_production_says_so(approved, risk_officer):
    response = web(risk_officer).post(
        url("version-promote", approved), {"reason": "launch", "replaces": "0.9.0"}
    )

    assert response.status_code == 400
    assert form_errors(response, "promote") == {
        "__all__": ["Production is now empty, not 0.9.0; reload and decide again."]
    }
    assert not ProductionEvent.objects.exists()


def test_promoting_a_version_whose_gates_fail_says_which(in_review, risk_officer):
    response = web(risk_officer).post(
        url("version-promote", in_review), {"reason": "launch", "replaces": ""}
    )

    assert response.status_code == 400
    (message,) = form_errors(response, "promote")["__all__"]
    assert message.startswith("Gates not passed: ")
    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    assert not ProductionEvent.objects.exists()


def test_an_engineer_cannot_promote(approved, engineer):
    response = web(engineer).post(
        url("version-promote", approved), {"reason": "launch", "replaces": ""}
    )

    assert response.status_code == 400
    assert form_errors(response, "promote") == {
        "__all__": ["Only risk officers and admins promote to production."]
    }
    assert not ProductionEvent.objects.exists()


# --- roll back -----------------------------------------------------------------------------


def test_rollback_returns_the_archived_version_to_production(replaced, risk_officer):
    first, second = replaced

    response = web(risk_officer).post(
        url("version-rollback", first),
        {"reason": "2.0.0 misbehaves", "replaces": "2.0.0", "confirmed": "yes"},
        follow=True,
    )

    done(response, first, "rollback", "Rolled back: 1.0.0 is in production again.")
    assert (fresh(first).status, fresh(second).status) == ("production", "archived")
    (event,) = events("version.rolled_back")
    assert (event.payload["version"], event.payload["replaced"]) == ("1.0.0", "2.0.0")


def test_a_rollback_without_a_reason_is_an_error_on_the_reason(replaced, risk_officer):
    first, _ = replaced
    before = audit_count()

    response = web(risk_officer).post(url("version-rollback", first), {"replaces": "2.0.0"})

    assert response.status_code == 400
    assert form_errors(response, "rollback") == {"reason": ["This field is required."]}
    assert fresh(first).status == VersionStatus.ARCHIVED
    assert audit_count() == before


def test_rolling_back_to_a_version_never_in_production_says_why_not(approved, risk_officer):
    response = web(risk_officer).post(
        url("version-rollback", approved), {"reason": "try", "replaces": ""}
    )

    assert response.status_code == 400
    assert form_errors(response, "rollback") == {
        "__all__": ["Only versions that were in production can be rolled back to."]
    }
    assert not ProductionEvent.objects.exists()


# --- explain a row -------------------------------------------------------------------------


def test_explaining_a_row_queues_a_lime_report_for_it(submitted, reviewer):
    response = web(reviewer).post(url("version-explain-row", submitted), {"row": "7"}, follow=True)

    done(
        response,
        submitted,
        "explain_row",
        "Explanation of the row queued; it appears below when ready.",
    )
    report = Report.objects.get(version=submitted, kind="lime", params__rows=[7])
    assert report.requested_by == reviewer
    (event,) = events("report.queued", object_id=str(report.pk))
    assert event.payload["kind"] == "lime"


INVALID_ROWS = [
    ({}, "This field is required."),
    ({"row": "-1"}, "Ensure this value is greater than or equal to 0."),
    ({"row": "first"}, "Enter a whole number."),
]


def test_a_missing_or_invalid_row_is_an_error_on_the_row(submitted, reviewer):
    lime = Report.objects.filter(version=submitted, kind="lime").count()
    before = audit_count()
    browser = web(reviewer)

    for posted, error in INVALID_ROWS:
        response = browser.post(url("version-explain-row", submitted), posted)

        assert response.status_code == 400, posted
        assert form_errors(response, "explain_row") == {"row": [error]}, posted
    assert Report.objects.filter(version=submitted, kind="lime").count() == lime
    assert audit_count() == before


def test_a_row_outside_the_evaluation_set_is_refused_at_the_field_with_the_range(
    submitted, reviewer
):
    lime = Report.objects.filter(version=submitted, kind="lime").count()
    last = submitted.evaluation_data.row_count - 1
    browser = web(reviewer)

    page = browser.get(url("version-detail", submitted)).content.decode()
    response = browser.post(url("version-explain-row", submitted), {"row": "100000"})

    assert f'max="{last}"' in page and f"0 to {last:,} ({last + 1:,} rows)." in page
    assert response.status_code == 400
    assert form_errors(response, "explain_row") == {
        "row": [f"Ensure this value is less than or equal to {last}."]
    }
    # The form posts to an address ending in its own anchor, so the answer opens there.
    assert f'action="{url("version-explain-row", submitted)}#explain_row"' in page
    assert Report.objects.filter(version=submitted, kind="lime").count() == lime


def test_explaining_a_row_of_a_version_without_a_model_file_says_why_not(ci, model, reviewer):
    from tests.builders import register

    version = register(ci[0], model, token=ci[1], shap=False, run=False)

    response = web(reviewer).post(url("version-explain-row", version), {"row": "0"})

    assert response.status_code == 400
    assert form_errors(response, "explain_row") == {
        "__all__": ["kind: This version has no model file to explain."]
    }
    assert not Report.objects.filter(version=version, kind="lime").exists()


# --- outsiders and other methods ----------------------------------------------------------

ACTIONS = {
    "version-request-review": {"note": "x"},
    "version-sign-off": {"decision": "approved", "password": PASSWORD},
    "version-promote": {"reason": "x", "replaces": ""},
    "version-rollback": {"reason": "x", "replaces": ""},
    "version-explain-row": {"row": "0"},
}


def test_outsiders_get_404_and_change_nothing(in_review, outsider):
    before = audit_count()
    browser = web(outsider)

    for action, posted in ACTIONS.items():
        response = browser.post(url(action, in_review), posted)

        assert response.status_code == 404, action
        assert "credit-default" not in response.content.decode(), action
    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    assert audit_count() == before


def test_the_actions_take_no_get(in_review, risk_officer):
    browser = web(risk_officer)

    assert {action: browser.get(url(action, in_review)).status_code for action in ACTIONS} == {
        action: 405 for action in ACTIONS
    }
