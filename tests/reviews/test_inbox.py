"""The dashboard's inbox per role and the header's counts: candidates with failing checks,
changes requested, waiting for my review (with its age), ready to promote, open findings in
production; registered candidates listed too. Outsiders see nothing of another team's."""

from __future__ import annotations

import pytest

from registry.models import ModelVersion, VersionStatus
from reviews import selectors, services
from reviews.models import Decision, Objection
from tests.builders import biased_frame, fresh, register, sign, web
from web.templatetags import gatehouse as tags


def dashboard(user):
    response = web(user).get("/")
    assert response.status_code == 200
    return response


def names(rows) -> list[str]:
    return [row["version"].version for row in rows]


@pytest.fixture
def registered(ci, model) -> ModelVersion:
    """3.0.0, registered by CI, nobody has asked for its review yet."""
    return register(ci[0], model, "3.0.0", token=ci[1], run=False)


@pytest.fixture
def biased(ci, model) -> ModelVersion:
    """4.0.0, registered, its reports run: the fairness verdict fails."""
    return register(ci[0], model, "4.0.0", token=ci[1], frame=biased_frame(), shap=False)


def test_registered_candidates_are_listed(registered, engineer):
    response = dashboard(engineer)

    assert names(response.context["candidates"]) == ["3.0.0"]
    assert "credit-default 3.0.0" in response.content.decode()


def test_a_reviewer_waits_on_versions_in_review_until_they_sign(in_review, reviewer):
    response = dashboard(reviewer)

    assert names(response.context["inbox"]["pending"]) == ["1.0.0"]
    assert response.context["shows"]["pending"] is True
    text = response.content.decode()
    assert f'datetime="{in_review.status_changed_at.isoformat()}"' in text
    assert selectors.inbox_counts(reviewer) == {"waiting": 1}
    assert 'class="badge inbox-count"' in text

    sign(in_review, reviewer)

    assert dashboard(reviewer).context["inbox"]["pending"] == []
    assert selectors.inbox_counts(reviewer) == {"waiting": 0}


def test_the_engineer_sees_the_changes_asked_of_them(in_review, reviewer, engineer):
    sign(in_review, reviewer, Decision.CHANGES_REQUESTED, comment="Add the Q3 applications.")
    objection = Objection.objects.get()

    response = dashboard(engineer)

    assert response.context["inbox"]["changes"] == [objection]
    text = response.content.decode()
    assert "asked of you" in text and "Add the Q3 applications." in text
    assert f"#objection-{objection.pk}" in text
    assert response.context["shows"]["pending"] is False
    assert selectors.inbox_counts(engineer) == {"asked": 1}


def test_a_rejected_version_stays_in_the_engineers_inbox(in_review, reviewer, engineer):
    sign(in_review, reviewer, Decision.REJECTED, comment="proxy")

    assert fresh(in_review).status == VersionStatus.REJECTED
    assert [o.version for o in dashboard(engineer).context["inbox"]["changes"]] == [in_review]
    assert selectors.inbox_counts(engineer) == {"asked": 1}


def test_candidates_with_failing_checks_say_what_fails(biased, registered, engineer):
    response = dashboard(engineer)

    (row,) = response.context["inbox"]["failing"]
    assert row["version"] == biased
    assert "fairness fails" in row["failing"]
    assert "fairness fails" in response.content.decode()


def test_a_risk_officer_sees_approved_versions_ready_to_promote(approved, risk_officer):
    response = dashboard(risk_officer)

    assert names(response.context["inbox"]["ready"]) == ["1.0.0"]
    assert response.context["shows"]["ready"] is True


def test_an_open_objection_keeps_a_version_off_ready_to_promote(approved, reviewer, risk_officer):
    sign(approved, reviewer, Decision.CHANGES_REQUESTED, comment="one more run")

    assert dashboard(risk_officer).context["inbox"]["ready"] == []


def test_production_versions_with_failing_checks_are_open_findings(biased, auditor, engineer):
    ModelVersion.objects.filter(pk=biased.pk).update(status=VersionStatus.PRODUCTION)

    response = dashboard(auditor)

    (finding,) = response.context["inbox"]["findings"]
    assert finding["version"] == biased and "fairness fails" in finding["problems"]
    # Auditors read: no review lists of their own, and no header count.
    shows = response.context["shows"]
    assert (shows["pending"], shows["changes"], shows["failing"], shows["ready"]) == (
        False,
        False,
        False,
        False,
    )
    assert selectors.inbox_counts(auditor) == {}
    assert dashboard(engineer).context["shows"]["findings"] is False


def test_an_outsider_sees_nothing_of_another_teams_versions(in_review, biased, reviewer, outsider):
    sign(in_review, reviewer, Decision.CHANGES_REQUESTED, comment="x")

    response = dashboard(outsider)

    inbox = response.context["inbox"]
    assert (inbox["pending"], inbox["changes"], inbox["failing"], inbox["ready"]) == (
        [],
        [],
        [],
        [],
    )
    assert response.context["candidates"] == []
    assert selectors.inbox_counts(outsider) == {"asked": 0}
    assert "credit-default" not in response.content.decode()


def test_the_header_count_stops_at_its_cap(in_review, registered, engineer, reviewer, monkeypatch):
    services.review_request(actor=engineer, version=registered)
    monkeypatch.setattr(selectors, "INBOX_COUNT_CAP", 1)
    monkeypatch.setattr(tags, "INBOX_COUNT_CAP", 1)

    assert selectors.inbox_counts(reviewer) == {"waiting": 2}
    assert tags.inbox_counts(reviewer)["shown"] == "1+"
    assert '1+<span class="sr-only">' in dashboard(reviewer).content.decode()
