"""The review conversation over the API: comments, replies and answers to objections in the
order written (paginated), objections with what they ask and their state, and resolving one.

Who writes is what the services' predicates say: the owning team's engineers, reviewers and
risk officers, and admins (by session or their personal token) post; auditors and CI tokens
read (403 on a post); whoever raised an objection, a risk officer of the team or an admin
resolves it; outsiders are told the model does not exist (404). A refusal stores nothing.
"""

from __future__ import annotations

import pytest

from registry import services as registry_services
from registry.models import AuditEvent
from reviews import services
from reviews.models import COMMENT_MAX_CHARS, Comment, Objection, ObjectionState
from tests.builders import client_for, events
from tests.reviews.conftest import assert_comment_recorded

VERSION = "/api/v1/models/credit-default/versions/1.0.0/"
COMMENTS = VERSION + "comments/"
OBJECTIONS = VERSION + "objections/"


def resolve_url(objection: Objection, version: str = "1.0.0") -> str:
    return f"/api/v1/models/credit-default/versions/{version}/objections/{objection.pk}/resolve/"


def fresh_objection(objection: Objection) -> Objection:
    return Objection.objects.get(pk=objection.pk)


def stored() -> tuple[int, int]:
    """How many comments and audit events there are: a refusal changes neither."""
    return Comment.objects.count(), AuditEvent.objects.count()


# --- reading the conversation --------------------------------------------------------------


def test_the_conversation_is_listed_in_the_order_written(in_review, objected, reviewer, engineer):
    question = services.comment_post(actor=reviewer, version=in_review, body="Which data?")
    reply = services.comment_post(
        actor=engineer, version=in_review, body="The 2025 book.", reply_to=question.pk
    )
    answer = services.comment_post(
        actor=engineer, version=in_review, body="Q3 added.", objection=objected.pk
    )

    response = client_for(reviewer).get(COMMENTS)

    assert response.status_code == 200
    page = response.json()
    assert (page["count"], page["next"], page["previous"]) == (3, None, None)
    assert [
        (c["id"], c["author"], c["body"], c["reply_to"], c["objection"]) for c in page["results"]
    ] == [
        (question.pk, "rev", "Which data?", None, None),
        (reply.pk, "eng", "The 2025 book.", question.pk, None),
        (answer.pk, "eng", "Q3 added.", None, objected.pk),
    ]
    assert set(page["results"][0]) == {
        "id",
        "author",
        "author_name",
        "body",
        "created_at",
        "reply_to",
        "objection",
    }


def test_the_conversation_is_paginated_like_the_other_lists(in_review, reviewer):
    for n in range(3):
        services.comment_post(actor=reviewer, version=in_review, body=f"note {n}")

    first = client_for(reviewer).get(COMMENTS, {"limit": 2}).json()
    second = client_for(reviewer).get(first["next"]).json()

    assert first["count"] == 3
    assert [c["body"] for c in first["results"]] == ["note 0", "note 1"]
    assert [c["body"] for c in second["results"]] == ["note 2"]
    assert second["next"] is None


def test_auditors_and_the_ci_token_read_the_conversation(in_review, reviewer, auditor, ci):
    services.comment_post(actor=reviewer, version=in_review, body="Visible to readers")

    for client in (client_for(auditor), client_for(secret=ci[2])):
        response = client.get(COMMENTS)
        assert response.status_code == 200
        assert [c["body"] for c in response.json()["results"]] == ["Visible to readers"]


def test_objections_are_listed_with_what_they_ask_and_their_state(
    objected, in_review, reviewer, auditor, ci
):
    for client in (client_for(reviewer), client_for(auditor), client_for(secret=ci[2])):
        response = client.get(OBJECTIONS)

        assert response.status_code == 200
        (item,) = response.json()
        assert item == {
            "id": objected.pk,
            "state": "open",
            "signoff": objected.signoff_id,
            "decision": "changes_requested",
            "comment": "Add the Q3 applications.",
            "raised_by": "rev",
            "owner": "eng",
            "created_at": item["created_at"],
            "resolved_by": None,
            "resolved_at": None,
            "resolution": "",
        }
        assert item["created_at"]


# --- posting -------------------------------------------------------------------------------


def test_a_reviewer_posts_a_comment_stored_once_and_audited_once(in_review, reviewer):
    response = client_for(reviewer).post(
        COMMENTS, {"body": "  Why is occupation_score used?  "}, format="json"
    )

    assert response.status_code == 201
    comment = Comment.objects.get()
    assert response.json() == {
        "id": comment.pk,
        "author": "rev",
        "author_name": "rev",
        "body": "Why is occupation_score used?",
        "created_at": response.json()["created_at"],
        "reply_to": None,
        "objection": None,
    }
    assert_comment_recorded(comment, "Why is occupation_score used?")


def test_a_reply_to_an_answer_answers_the_objection_too(objected, in_review, engineer, reviewer):
    client = client_for(engineer)
    answer = client.post(
        COMMENTS, {"body": "Q3 added.", "objection": objected.pk}, format="json"
    ).json()

    reply = client_for(reviewer).post(
        COMMENTS, {"body": "Thanks, checking.", "reply_to": answer["id"]}, format="json"
    )

    assert reply.status_code == 201
    assert (reply.json()["reply_to"], reply.json()["objection"]) == (answer["id"], objected.pk)
    assert list(Comment.objects.values_list("objection_id", flat=True)) == [objected.pk] * 2
    assert len(events("comment.posted")) == 2


def test_a_person_posts_with_their_personal_token(in_review, engineer):
    secret = registry_services.token_issue(actor=engineer, user=engineer, name="laptop").secret

    response = client_for(secret=secret).post(COMMENTS, {"body": "From my script"}, format="json")

    assert response.status_code == 201
    assert Comment.objects.get().author == engineer
    (event,) = events("comment.posted")
    assert event.actor_name == "eng"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * (COMMENT_MAX_CHARS + 1)}, "body"),
        ({"body": "hi", "reply_to": "first"}, "reply_to"),
        ({"body": "hi", "reply_to": 0}, "reply_to"),
        ({"body": "hi", "objection": "the-one"}, "objection"),
    ],
)
def test_bad_input_is_refused_naming_the_field(in_review, reviewer, data, field):
    before = stored()

    response = client_for(reviewer).post(COMMENTS, data, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["errors"])) == ("invalid", [field])
    assert body["detail"].startswith(f"{field}: ")
    assert stored() == before


def test_a_reply_or_answer_on_another_version_is_refused_naming_the_field(
    in_review, objected, other, reviewer
):
    elsewhere = services.comment_post(actor=reviewer, version=other, body="On 2.0.0")
    before = stored()
    client = client_for(reviewer)

    reply = client.post(COMMENTS, {"body": "hi", "reply_to": elsewhere.pk}, format="json")
    answer = client.post(
        "/api/v1/models/credit-default/versions/2.0.0/comments/",
        {"body": "hi", "objection": objected.pk},
        format="json",
    )

    assert reply.status_code == answer.status_code == 400
    assert reply.json()["errors"] == {"reply_to": ["No such comment on this version."]}
    assert answer.json()["errors"] == {"objection": ["No such objection on this version."]}
    assert stored() == before


def test_an_auditor_and_a_ci_token_may_not_post_and_nothing_is_stored(in_review, auditor, ci):
    before = stored()

    for client in (client_for(auditor), client_for(secret=ci[2])):
        response = client.post(COMMENTS, {"body": "I object"}, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    assert stored() == before


def test_an_outsider_is_told_the_version_does_not_exist(in_review, objected, outsider):
    before = stored()
    client = client_for(outsider)

    answers = [
        client.get(COMMENTS),
        client.post(COMMENTS, {"body": "hello"}, format="json"),
        client.get(OBJECTIONS),
        client.post(resolve_url(objected), {"note": "done"}, format="json"),
    ]

    assert [r.status_code for r in answers] == [404] * 4
    assert {r.json()["detail"] for r in answers} == {"No model named 'credit-default'."}
    assert stored() == before
    assert fresh_objection(objected).state == ObjectionState.OPEN


# --- resolving objections ------------------------------------------------------------------


def test_the_raiser_resolves_an_objection(objected, in_review, reviewer):
    response = client_for(reviewer).post(
        resolve_url(objected), {"note": "  Q3 data checked "}, format="json"
    )

    assert response.status_code == 200
    resolved = fresh_objection(objected)
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == (
        ObjectionState.RESOLVED,
        reviewer,
        "Q3 data checked",
    )
    body = response.json()
    assert (body["id"], body["state"], body["resolved_by"], body["resolution"]) == (
        objected.pk,
        "resolved",
        "rev",
        "Q3 data checked",
    )
    assert body["resolved_at"]
    (event,) = events("objection.resolved")
    assert (event.actor_name, event.object_id) == ("rev", str(objected.pk))
    listed = client_for(reviewer).get(OBJECTIONS).json()
    assert [(o["state"], o["resolved_by"]) for o in listed] == [("resolved", "rev")]


def test_a_risk_officer_of_the_team_resolves_it_without_a_note(objected, risk_officer):
    response = client_for(risk_officer).post(resolve_url(objected), {}, format="json")

    assert response.status_code == 200
    assert (response.json()["resolved_by"], response.json()["resolution"]) == ("risk", "")


def test_others_may_not_resolve_it(objected, in_review, engineer, auditor, ci):
    before = stored()

    for client in (client_for(engineer), client_for(auditor), client_for(secret=ci[2])):
        response = client.post(resolve_url(objected), {"note": "done"}, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    assert fresh_objection(objected).state == ObjectionState.OPEN
    assert stored() == before


def test_resolving_twice_is_a_conflict(objected, in_review, reviewer):
    services.objection_resolve(actor=reviewer, objection=objected, note="first")

    response = client_for(reviewer).post(resolve_url(objected), {"note": "again"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This objection is already resolved.",
        "code": "conflict",
        "errors": {},
    }
    assert fresh_objection(objected).resolution == "first"
    assert len(events("objection.resolved")) == 1


def test_a_too_long_note_is_refused_naming_the_field(objected, in_review, reviewer):
    note = "x" * (COMMENT_MAX_CHARS + 1)

    response = client_for(reviewer).post(resolve_url(objected), {"note": note}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["note"]
    assert fresh_objection(objected).state == ObjectionState.OPEN


def test_an_objection_of_another_version_is_not_found(objected, other, reviewer):
    response = client_for(reviewer).post(
        resolve_url(objected, version="2.0.0"), {"note": "done"}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "No such objection on this version."
    assert fresh_objection(objected).state == ObjectionState.OPEN
