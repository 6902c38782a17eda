"""The review policy editor page: the form, the change old against new before saving, the
audited save, and its refusals (other roles 403, outsiders 404, bad values on their field)."""

from __future__ import annotations

from django.urls import reverse

from registry.models import AuditEvent
from reviews import services
from reviews.models import ReviewPolicy
from tests.builders import events, web

# The high-risk tier's defaults, as the form shows them, with the valid days changed.
CHANGE = {
    "revision": 1,
    "approvals_reviewer": 2,
    "approvals_risk_officer": 1,
    "require_fairness_not_failed": "on",
    "require_blocking_kpis_met": "on",
    "require_shap_report": "on",
    "signoff_valid_days": 30,
}


def editor(model) -> str:
    return reverse("policy-edit", args=[model.name])


def text(response) -> str:
    return response.content.decode()


def row(html: str, label: str) -> str:
    """One row of the preview's table, from its label to the row's end."""
    start = html.index(f'<th scope="row">{label}</th>')
    return html[start : html.index("</tr>", start)]


def test_the_form_shows_the_current_rules_with_role_names_in_words(model, risk_officer):
    response = web(risk_officer).get(editor(model))

    html = text(response)
    assert response.status_code == 200
    form = response.context["form"]
    assert (form["approvals_reviewer"].value(), form["approvals_risk_officer"].value()) == (1, 1)
    assert form["signoff_valid_days"].value() == 90
    assert ">Reviewer approvals</label>" in html and ">Risk officer approvals</label>" in html
    assert "approvals 1 reviewer, 1 risk officer;" in html
    assert "risk_officer<" not in html and "risk_officer " not in html


def test_the_preview_shows_old_against_new_and_saves_nothing(model, risk_officer):
    before = AuditEvent.objects.count()

    response = web(risk_officer).post(editor(model), CHANGE)

    html = text(response)
    assert response.status_code == 200
    assert not ReviewPolicy.objects.exists()
    assert AuditEvent.objects.count() == before
    assert "The change: tier defaults → r1" in html  # the defaults were never saved
    assert row(html, "Approvals required") == (
        '<th scope="row">Approvals required</th><td>1 reviewer, 1 risk officer</td>'
        "<td><strong>2 reviewers, 1 risk officer</strong></td><td>changed</td>"
    )
    assert row(html, "Sign-offs valid for") == (
        '<th scope="row">Sign-offs valid for</th><td>90 days</td>'
        "<td><strong>30 days</strong></td><td>changed</td>"
    )
    assert "<td>yes</td><td>yes</td><td>same</td>" in row(html, "SHAP report required")
    assert 'name="confirmed" value="yes"' in html
    assert 'name="signoff_valid_days" value="30"' in html


def test_saving_records_a_new_revision_and_an_audited_change(model, risk_officer):
    services.policy_update(actor=risk_officer, model=model, signoff_valid_days=60)  # r1

    response = web(risk_officer).post(editor(model), CHANGE | {"confirmed": "yes"}, follow=True)

    assert response.redirect_chain == [(reverse("model-detail", args=[model.name]), 302)]
    assert "Review policy r2 saved." in [str(m) for m in response.context["messages"]]
    policy = model.review_policies.get(revision=2)
    assert policy.required_approvals == {"reviewer": 2, "risk_officer": 1}
    assert (policy.signoff_valid_days, policy.created_by) == (30, risk_officer)
    event = events("policy.changed")[-1]
    assert event.actor_name == "risk"
    assert (
        event.payload["from"]["signoff_valid_days"],
        event.payload["to"]["signoff_valid_days"],
    ) == (60, 30)
    assert event.payload["to"]["required_approvals"] == {"reviewer": 2, "risk_officer": 1}


def test_the_preview_names_the_sign_offs_the_change_would_stop_counting(approved, risk_officer):
    response = web(risk_officer).post(editor(approved.model), CHANGE)

    html = text(response)
    assert "Sign-offs that stop counting." in html
    assert ">1.0.0</a>: 2 sign-offs" in html


def test_going_back_from_the_preview_keeps_the_values_typed(model, admin_user):
    response = web(admin_user).post(editor(model), CHANGE | {"confirmed": "yes", "edit": "yes"})

    assert response.status_code == 200
    assert response.context["preview"] is None
    assert response.context["form"]["signoff_valid_days"].value() == "30"
    assert 'name="confirmed"' not in text(response)  # the form leads to the preview again
    assert not ReviewPolicy.objects.exists()


BAD = [
    ({"signoff_valid_days": 0}, "signoff_valid_days", "Sign-offs valid for (days)"),
    ({"signoff_valid_days": "soon"}, "signoff_valid_days", "Sign-offs valid for (days)"),
    ({"approvals_risk_officer": -1}, "approvals_risk_officer", "Risk officer approvals"),
    (
        {"approvals_reviewer": 0, "approvals_risk_officer": 0},
        "approvals_reviewer",
        "Reviewer approvals",
    ),
]


def test_bad_values_are_refused_on_their_field_naming_it(model, risk_officer):
    browser = web(risk_officer)

    for changed, field, label in BAD:
        response = browser.post(editor(model), CHANGE | changed | {"confirmed": "yes"})

        assert response.status_code == 400, changed
        assert list(response.context["form"].errors) == [field], changed
        assert f'">{label}</a>: ' in text(response), changed
    assert "Reviewer approvals or Risk officer approvals to 1 or more" in text(response)
    assert not ReviewPolicy.objects.exists()


def test_a_change_decided_against_an_older_revision_is_not_saved(model, risk_officer, admin_user):
    services.policy_update(actor=admin_user, model=model, signoff_valid_days=60)  # r1
    services.policy_update(actor=admin_user, model=model, signoff_valid_days=45)  # r2

    response = web(risk_officer).post(editor(model), CHANGE | {"confirmed": "yes"})

    assert response.status_code == 409
    assert response.context["form"].non_field_errors() == [
        "The policy is now r2, not r1; review the change again."
    ]
    assert model.review_policies.count() == 2


def test_other_roles_are_refused_and_outsiders_never_learn_the_model(
    model, engineer, reviewer, auditor, outsider
):
    before = AuditEvent.objects.count()

    for person, status in ((engineer, 403), (reviewer, 403), (auditor, 403), (outsider, 404)):
        browser = web(person)
        assert browser.get(editor(model)).status_code == status, person
        response = browser.post(editor(model), CHANGE | {"confirmed": "yes"})
        assert response.status_code == status, person
        assert "Credit default" not in text(response), person
    assert not ReviewPolicy.objects.exists()
    assert AuditEvent.objects.count() == before


def test_the_model_page_links_the_editor_for_those_who_may_change_it(model, risk_officer, reviewer):
    link = f'href="{editor(model)}"'
    page = reverse("model-detail", args=[model.name])

    assert link in text(web(risk_officer).get(page))
    assert link not in text(web(reviewer).get(page))


def test_role_keys_read_as_words_on_the_version_page(approved, reviewer):
    html = text(web(reviewer).get(reverse("version-detail", args=["credit-default", "1.0.0"])))

    assert "(Risk officer)" in html and "(Reviewer)" in html
    assert "approvals 1 reviewer, 1 risk officer;" in html
    assert "(risk_officer)" not in html and "(reviewer)" not in html
