"""The review conversation, posted as a browser posts it: comments and replies, objections
(a rejection or a request for changes) that the owning team answers and a reviewer resolves,
and review requested again after an objection, each an audited action.

Who writes: the owning team's engineers, reviewers and risk officers, and admins; auditors
read (403 on a post); outsiders are told the model does not exist (404).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.errors import Conflict, InvalidInput, NotAllowed
from registry.models import AuditEvent, ModelVersion, VersionStatus
from reviews import services
from reviews.models import COMMENT_MAX_CHARS, Comment, Decision, Objection, ObjectionState
from tests.builders import check, events, fresh, sign, web
from tests.reviews.conftest import assert_comment_recorded


def url(action: str, version: ModelVersion, *args) -> str:
    return reverse(action, args=[version.model.name, version.version, *args])


def page(version: ModelVersion) -> str:
    return url("version-detail", version)


def post_comment(user, version: ModelVersion, **data):
    return web(user).post(url("version-comment", version), data, follow=True)


def form_errors(response, form: str) -> dict[str, list[str]]:
    return {field: list(errs) for field, errs in response.context["forms"][form].errors.items()}


# --- comments and replies ------------------------------------------------------------------


def test_a_reviewer_posts_a_comment_shown_on_the_page_and_audited(in_review, reviewer):
    response = post_comment(reviewer, in_review, body="  Why is occupation_score used?  ")

    assert response.redirect_chain == [(f"{page(in_review)}#comment", 302)]
    comment = Comment.objects.get()
    assert (comment.author, comment.body, comment.reply_to, comment.objection) == (
        reviewer,
        "Why is occupation_score used?",
        None,
        None,
    )
    assert "Why is occupation_score used?" in response.content.decode()
    assert_comment_recorded(comment, "Why is occupation_score used?")


def test_the_engineer_replies_and_the_reply_is_threaded(in_review, reviewer, engineer):
    question = services.comment_post(actor=reviewer, version=in_review, body="Which data?")

    post_comment(engineer, in_review, body="The 2025 book.", reply_to=question.pk)
    response = post_comment(reviewer, in_review, body="Thanks.", reply_to=question.pk + 1)

    replies = list(Comment.objects.filter(reply_to__isnull=False).order_by("pk"))
    assert [(c.author.username, c.reply_to_id) for c in replies] == [
        ("eng", question.pk),
        ("rev", question.pk + 1),
    ]
    # A reply to a reply sits in its first comment's thread.
    (thread,) = response.context["conversation"]["threads"]
    assert thread["comment"] == question
    assert [c.body for c in thread["replies"]] == ["The 2025 book.", "Thanks."]
    assert [e.payload["reply_to"] for e in events("comment.posted")] == [
        None,
        question.pk,
        question.pk + 1,
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        (
            "x" * (COMMENT_MAX_CHARS + 1),
            f"Ensure this value has at most {COMMENT_MAX_CHARS} characters (it has {COMMENT_MAX_CHARS + 1}).",
        ),
    ],
    ids=["empty", "blank", "too long"],
)
def test_an_empty_or_too_long_comment_is_refused_at_the_field(in_review, reviewer, body, error):
    before = AuditEvent.objects.count()

    response = web(reviewer).post(url("version-comment", in_review), {"body": body})

    assert response.status_code == 400
    assert form_errors(response, "comment") == {"body": [error]}
    assert not Comment.objects.exists()
    assert AuditEvent.objects.count() == before


def test_the_service_refuses_a_blank_or_too_long_body_naming_the_field(in_review, reviewer):
    for body in ("  ", "x" * (COMMENT_MAX_CHARS + 1)):
        with pytest.raises(InvalidInput) as refused:
            services.comment_post(actor=reviewer, version=in_review, body=body)
        assert list(refused.value.errors) == ["body"]
    assert not Comment.objects.exists()


def test_a_reply_to_a_comment_of_another_version_is_refused(in_review, other, reviewer):
    elsewhere = services.comment_post(actor=reviewer, version=other, body="On 2.0.0")

    response = web(reviewer).post(
        url("version-comment", in_review), {"body": "hi", "reply_to": elsewhere.pk}
    )

    assert response.status_code == 400
    assert form_errors(response, "comment") == {"reply_to": ["No such comment on this version."]}
    assert Comment.objects.count() == 1


def test_an_auditor_reads_the_conversation_but_may_not_post(in_review, reviewer, auditor):
    services.comment_post(actor=reviewer, version=in_review, body="Visible to auditors")
    before = AuditEvent.objects.count()

    shown = web(auditor).get(page(in_review))
    refused = web(auditor).post(url("version-comment", in_review), {"body": "I object"})

    assert "Visible to auditors" in shown.content.decode()
    assert shown.context["can"]["comment"] is False
    assert 'id="comment"' not in shown.content.decode()
    assert refused.status_code == 403
    assert Comment.objects.count() == 1
    assert AuditEvent.objects.count() == before
    with pytest.raises(NotAllowed):
        services.comment_post(actor=auditor, version=in_review, body="I object")


def test_an_outsider_is_told_the_version_does_not_exist(in_review, outsider, objected):
    client = web(outsider)

    assert client.post(url("version-comment", in_review), {"body": "hello"}).status_code == 404
    resolve = url("version-objection-resolve", in_review, objected.pk)
    assert client.post(resolve, {"note": "done"}).status_code == 404
    assert not Comment.objects.exists()
    assert fresh_objection(objected).state == ObjectionState.OPEN


# --- objections ----------------------------------------------------------------------------


def fresh_objection(objection: Objection) -> Objection:
    return Objection.objects.get(pk=objection.pk)


def test_changes_requested_becomes_an_open_objection_owned_by_the_requester(
    objected, in_review, reviewer, engineer
):
    assert (objected.version_id, objected.raised_by, objected.owner, objected.state) == (
        in_review.pk,
        reviewer,
        engineer,
        ObjectionState.OPEN,
    )
    assert objected.signoff.comment == "Add the Q3 applications."
    (event,) = events("objection.opened")
    assert (event.actor_name, event.object_id) == ("rev", str(objected.pk))
    assert event.payload == {
        "version": "1.0.0",
        "signoff_id": objected.signoff_id,
        "decision": "changes_requested",
        "asked": "Add the Q3 applications.",
        "owner": "eng",
    }
    assert not check(in_review, "objections").passed


def test_an_approval_opens_no_objection(in_review, reviewer):
    sign(in_review, reviewer)

    assert not Objection.objects.exists()
    assert not events("objection.opened")


def test_the_engineer_sees_what_is_asked_answers_and_requests_review_again(
    objected, in_review, engineer
):
    client = web(engineer)
    shown = client.get(page(in_review))
    text = shown.content.decode()

    # What is asked, of whom, and a way to answer: no "No action of yours is needed here".
    assert "Add the Q3 applications." in text
    assert "Asked of eng (you)" in text
    assert "No action of yours is needed here" not in text
    assert shown.context["can"]["rerequest_review"] is True
    assert "Request review again" in text

    answer = client.post(
        url("version-comment", in_review),
        {"body": "Q3 added; reports re-run.", "objection": objected.pk},
        follow=True,
    )
    (item,) = answer.context["conversation"]["objections"]
    assert [c.body for c in item["answers"]] == ["Q3 added; reports re-run."]

    again = client.post(url("version-request-review", in_review), {"note": "Q3 is in"}, follow=True)

    assert again.redirect_chain == [(f"{page(in_review)}#review", 302)]
    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    assert in_review.review_requests.count() == 2
    (event,) = events("review.rerequested")
    assert event.payload == {
        "version": "1.0.0",
        "note": "Q3 is in",
        "policy_revision": 1,
        "from_status": "in_review",
        "open_objections": [objected.pk],
    }
    # Asked once per objection: a second request waits for a new one.
    assert again.context["can"]["rerequest_review"] is False
    with pytest.raises(Conflict):
        services.review_request(actor=engineer, version=fresh(in_review))


def test_a_rejected_version_can_be_re_reviewed_after_changes(in_review, reviewer, engineer):
    sign(in_review, reviewer, Decision.REJECTED, comment="occupation_score is a proxy for sex")
    rejected = fresh(in_review)
    assert rejected.status == VersionStatus.REJECTED
    objection = Objection.objects.get()

    shown = web(engineer).get(page(rejected))
    assert shown.context["can"]["rerequest_review"] is True
    assert "Rejected; register a new version" not in shown.content.decode()
    services.comment_post(
        actor=engineer, version=rejected, body="It is dropped in 1.1.0", objection=objection.pk
    )
    services.review_request(actor=engineer, version=rejected, note="see answer")

    assert fresh(in_review).status == VersionStatus.IN_REVIEW
    (event,) = events("review.rerequested")
    assert (event.payload["from_status"], event.payload["open_objections"]) == (
        "rejected",
        [objection.pk],
    )
    # The rejection still stands until it is resolved.
    assert not check(in_review, "objections").passed
    services.objection_resolve(actor=reviewer, objection=objection, note="answered")
    assert check(in_review, "objections").passed


def test_a_rejected_version_without_an_objection_since_its_request_stays_rejected(
    in_review, engineer
):
    ModelVersion.objects.filter(pk=in_review.pk).update(status=VersionStatus.REJECTED)

    with pytest.raises(Conflict, match="Only registered versions"):
        services.review_request(actor=engineer, version=fresh(in_review))
    assert fresh(in_review).status == VersionStatus.REJECTED


def test_others_may_not_request_review_again(objected, in_review, reviewer, auditor):
    for who in (reviewer, auditor):
        with pytest.raises(NotAllowed):
            services.review_request(actor=who, version=in_review)
    assert not events("review.rerequested")


def test_the_raiser_resolves_an_objection_and_it_stops_blocking(objected, in_review, reviewer):
    assert not check(in_review, "objections").passed

    response = web(reviewer).post(
        url("version-objection-resolve", in_review, objected.pk),
        {"note": "Q3 data checked"},
        follow=True,
    )

    assert response.redirect_chain == [(f"{page(in_review)}#resolve", 302)]
    resolved = fresh_objection(objected)
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == (
        ObjectionState.RESOLVED,
        reviewer,
        "Q3 data checked",
    )
    assert resolved.resolved_at is not None
    assert check(in_review, "objections").passed
    (event,) = events("objection.resolved")
    assert (event.actor_name, event.object_id) == ("rev", str(objected.pk))
    assert event.payload == {
        "version": "1.0.0",
        "signoff_id": objected.signoff_id,
        "note": "Q3 data checked",
    }
    assert "✓ Resolved" in response.content.decode()


def test_a_risk_officer_of_the_team_may_resolve_it_too(objected, risk_officer):
    services.objection_resolve(actor=risk_officer, objection=objected)

    assert fresh_objection(objected).resolved_by == risk_officer


def test_the_engineer_it_is_asked_of_may_not_resolve_it(objected, in_review, engineer, auditor):
    before = AuditEvent.objects.count()

    shown = web(engineer).get(page(in_review))
    (item,) = shown.context["conversation"]["objections"]
    assert item["can_resolve"] is False
    for who in (engineer, auditor):
        response = web(who).post(url("version-objection-resolve", in_review, objected.pk))
        assert response.status_code == 403
    assert fresh_objection(objected).state == ObjectionState.OPEN
    assert AuditEvent.objects.count() == before


def test_resolving_twice_says_it_is_already_resolved(objected, in_review, reviewer):
    services.objection_resolve(actor=reviewer, objection=objected)

    response = web(reviewer).post(url("version-objection-resolve", in_review, objected.pk), {})

    assert response.status_code == 400
    assert form_errors(response, "resolve") == {"__all__": ["This objection is already resolved."]}
    assert len(events("objection.resolved")) == 1


def test_an_objection_of_another_version_is_not_found(objected, other, reviewer):
    response = web(reviewer).post(url("version-objection-resolve", other, objected.pk))

    assert response.status_code == 404
    assert fresh_objection(objected).state == ObjectionState.OPEN
