"""Requesting review: who may, from which status, what is stored and audited."""

from __future__ import annotations

import pytest

from registry.errors import Conflict, NotAllowed
from registry.models import VersionStatus
from reviews import services
from reviews.models import ReviewPolicy, ReviewRequest
from tests.builders import client_for, events, fresh, register

URL = "/api/v1/models/credit-default/versions/{}/review-request/"


@pytest.fixture
def registered(ci, model):
    user, token, _ = ci
    return register(user, model, token=token, run=False)


def test_an_engineer_of_the_team_sends_a_registered_version_to_review(registered, engineer):
    request = services.review_request(actor=engineer, version=registered, note="ready for you")

    assert fresh(registered).status == VersionStatus.IN_REVIEW
    assert request.requested_by == engineer
    assert request.note == "ready for you"
    assert request.policy_revision == 1
    # The tier defaults are saved as revision 1 the first time, and audited.
    policy = ReviewPolicy.objects.get(model=registered.model)
    assert (policy.revision, policy.required_approvals) == (1, {"reviewer": 1, "risk_officer": 1})
    assert [e.payload["revision"] for e in events("policy.created")] == [1]
    (event,) = events("review.requested")
    assert event.actor_name == "eng"
    assert event.model_name == "credit-default"
    assert event.object_id == str(registered.pk)
    assert event.payload == {"version": "1.0.0", "note": "ready for you", "policy_revision": 1}


def test_an_admin_may_request_review_too(registered, admin_user):
    services.review_request(actor=admin_user, version=registered)

    assert fresh(registered).status == VersionStatus.IN_REVIEW


@pytest.mark.parametrize("who", ["reviewer", "risk_officer", "auditor", "outsider", "ci_user"])
def test_others_may_not_request_review(registered, who, request):
    actor = request.getfixturevalue(who)

    with pytest.raises(NotAllowed):
        services.review_request(actor=actor, version=registered)

    assert fresh(registered).status == VersionStatus.REGISTERED
    assert not ReviewRequest.objects.exists()
    assert not events("review.requested")


def test_only_registered_versions_go_to_review(registered, engineer):
    services.review_request(actor=engineer, version=registered)

    with pytest.raises(Conflict, match="Only registered versions"):
        services.review_request(actor=engineer, version=registered)

    assert ReviewRequest.objects.count() == 1
    assert len(events("review.requested")) == 1


def test_the_api_returns_the_new_status(registered, engineer):
    response = client_for(engineer).post(URL.format("1.0.0"), {"note": "please"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "in_review"
    assert (body["model"], body["version"], body["note"]) == ("credit-default", "1.0.0", "please")
    assert body["requested_by"] == "eng"
    assert body["policy_revision"] == 1
    assert ReviewRequest.objects.get().pk == body["id"]


def test_the_api_refuses_a_second_request_with_409(registered, engineer):
    client = client_for(engineer)
    client.post(URL.format("1.0.0"), {}, format="json")

    response = client.post(URL.format("1.0.0"), {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert ReviewRequest.objects.count() == 1


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("ci", 403), ("outsider", 404)])
def test_the_api_refuses_others(registered, who, status, request, ci):
    client = client_for(secret=ci[2]) if who == "ci" else client_for(request.getfixturevalue(who))

    response = client.post(URL.format("1.0.0"), {}, format="json")

    assert response.status_code == status
    assert fresh(registered).status == VersionStatus.REGISTERED
    assert not events("review.requested")


def test_an_unknown_version_is_404(registered, engineer):
    response = client_for(engineer).post(URL.format("9.9.9"), {}, format="json")

    assert response.status_code == 404
