"""Notifications: each declared kind reaches exactly its people (never the actor, never
someone who cannot see the model, never the auditor); the dispatcher makes each once; e-mail
goes to those who want it, after commit, and the sweep sends what a broken broker left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail as outbox
from django.db import transaction
from django.utils import timezone

from events import dispatch, mail, notifications, queue
from events.models import EmailChoice, Notification, Subscription
from registry.audit.record import audit_record
from registry.models import ModelVersion
from registry.roles import Role
from reviews import services as review_services
from reviews.models import Decision, SignOff
from tests.builders import fresh, make_user, register, sign


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.GATEHOUSE_BASE_URL = "http://testserver.example/"


@pytest.fixture
def engineer2(team):
    """Another ML engineer of the team: the engineer's acts reach them."""
    return make_user("eng2", [Role.ML_ENGINEER], [team])


@pytest.fixture
def people(engineer, engineer2, reviewer, risk_officer, auditor, admin_user, outsider):
    """Everyone, each with an e-mail address."""
    everyone = {
        "engineer": engineer,
        "engineer2": engineer2,
        "reviewer": reviewer,
        "risk_officer": risk_officer,
        "auditor": auditor,
        "admin": admin_user,
        "outsider": outsider,
    }
    for user in everyone.values():
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    return everyone


@pytest.fixture
def version(ci, model, people) -> ModelVersion:
    """1.0.0, registered by CI (a service account: never notified)."""
    return register(ci[0], model, "1.0.0", token=ci[1], shap=False, run=False)


@pytest.fixture
def in_review(version, engineer) -> ModelVersion:
    review_services.review_request(actor=engineer, version=version)
    dispatch.dispatch()
    return fresh(version)


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """The notification ids handed to the broker (the boundary), sent there by a worker at
    once: the task calls the same function."""
    sent: list[int] = []

    def publish(notification_id: int) -> None:
        sent.append(notification_id)
        mail.notification_email_send(notification_id=notification_id)

    monkeypatch.setattr(queue, "email_publish", publish)
    return sent


def version_event(version: ModelVersion, action: str, actor, **payload) -> None:
    """An audit event about a version, as ``reviews.services._set_status`` writes it."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            obj=version,
            model_name=version.model.name,
            payload={"version": version.version, **payload},
        )


def told(kind: str) -> set[str]:
    """The usernames notified of ``kind``."""
    return set(Notification.objects.filter(kind=kind).values_list("recipient__username", flat=True))


# --- who receives each kind ------------------------------------------------------------------


def test_a_review_request_reaches_the_team_people_who_may_sign(version, engineer, people):
    review_services.review_request(actor=engineer, version=version)
    dispatch.dispatch()

    assert told("review_requested") == {"rev", "risk"}
    note = Notification.objects.get(recipient=people["reviewer"])
    assert note.subject == "Review requested: credit-default 1.0.0"
    assert "eng asked for a review of credit-default 1.0.0" in note.body
    assert note.link == "/models/credit-default/versions/1.0.0/#signoff"
    assert note.event.action == "review.requested"


def test_changes_requested_reaches_the_submitter_and_engineers_once(in_review, people):
    ModelVersion.objects.filter(pk=in_review.pk).update(submitted_by=people["admin"])
    Notification.objects.all().delete()

    sign(in_review, people["reviewer"], Decision.CHANGES_REQUESTED, comment="more data")
    dispatch.dispatch()

    # signoff.changes_requested and objection.opened are one act: one notification each.
    assert told("changes_requested") == {"eng", "eng2", "adm"}
    assert Notification.objects.count() == 3
    note = Notification.objects.get(recipient=people["engineer"])
    assert note.subject == "credit-default 1.0.0: changes requested by rev"
    assert "more data" in note.body


def test_a_rejection_is_one_notification_too(in_review, people):
    Notification.objects.all().delete()

    sign(in_review, people["risk_officer"], Decision.REJECTED, comment="biased")
    dispatch.dispatch()

    assert told("changes_requested") == {"eng", "eng2"}
    assert Notification.objects.count() == 2
    assert Notification.objects.first().subject == "credit-default 1.0.0: rejected by risk"


def test_an_approval_reaches_the_team_risk_officers_not_every_admin(in_review, people):
    version_event(in_review, "version.approved", people["reviewer"])
    dispatch.dispatch()

    assert told("version_approved") == {"risk"}


def test_promotion_and_rollback_reach_the_whole_team_but_the_actor(in_review, people):
    version_event(in_review, "version.promoted", people["risk_officer"], reason="ship it")
    version_event(in_review, "version.rolled_back", people["admin"], reason="back")
    dispatch.dispatch()

    promoted, rolled_back = (
        set(
            Notification.objects.filter(event__action=action).values_list(
                "recipient__username", flat=True
            )
        )
        for action in ("version.promoted", "version.rolled_back")
    )
    assert promoted == {"eng", "eng2", "rev"}
    assert rolled_back == {"eng", "eng2", "rev", "risk"}
    assert (
        "Reason: ship it" in Notification.objects.filter(event__action="version.promoted")[0].body
    )


def test_a_comment_reaches_the_submitter_and_who_took_part_before(in_review, people):
    ModelVersion.objects.filter(pk=in_review.pk).update(submitted_by=people["engineer2"])
    review_services.comment_post(actor=people["reviewer"], version=in_review, body="first")
    dispatch.dispatch()
    # The submitter and who asked for the review; the author is not told of their own.
    assert told("comment_posted") == {"eng2", "eng"}

    sign(in_review, people["risk_officer"], Decision.CHANGES_REQUESTED)
    review_services.comment_post(actor=people["engineer"], version=in_review, body="done")
    dispatch.dispatch()

    second = Notification.objects.filter(kind="comment_posted", event__payload__body="done")
    assert {n.recipient.username for n in second} == {"eng2", "rev", "risk"}  # not eng
    assert second[0].subject == "eng commented on credit-default 1.0.0"
    assert second[0].body == "eng wrote on credit-default 1.0.0: done"


def test_a_disabled_webhook_reaches_its_creator_and_the_team_engineers(model, people):
    sub = Subscription.objects.create(
        model=model,
        url="https://ci.example.com/hook",
        event_types=["*"],
        secret="whsec_x",
        created_by=people["admin"],
    )
    with transaction.atomic():
        audit_record(
            actor=None,
            action="webhook.disabled",
            obj=sub,
            model_name=model.name,
            payload={"subscription_id": sub.pk, "reason": "410 Gone"},
        )
    dispatch.dispatch()

    assert told("webhook_disabled") == {"adm", "eng", "eng2"}
    note = Notification.objects.filter(kind="webhook_disabled").first()
    assert note.subject == "Webhook disabled: https://ci.example.com/hook"
    assert "410 Gone" in note.body


def test_an_outsider_is_never_notified_even_as_the_submitter(in_review, people):
    """The outsider submitted the version, then it moved out of their sight."""
    ModelVersion.objects.filter(pk=in_review.pk).update(submitted_by=people["outsider"])
    sign(in_review, people["reviewer"], Decision.CHANGES_REQUESTED)
    review_services.comment_post(actor=people["reviewer"], version=in_review, body="hello")
    version_event(in_review, "version.promoted", people["risk_officer"], reason="r")
    dispatch.dispatch()

    assert told("changes_requested") == {"eng", "eng2"}
    assert not Notification.objects.filter(recipient=people["outsider"]).exists()


def test_the_auditor_gets_nothing(in_review, people):
    sign(in_review, people["reviewer"], Decision.CHANGES_REQUESTED)
    review_services.comment_post(actor=people["engineer"], version=in_review, body="x")
    for action in ("version.approved", "version.promoted", "version.rolled_back"):
        version_event(in_review, action, people["admin"], reason="r")
    dispatch.dispatch()

    assert Notification.objects.exists()
    assert not Notification.objects.filter(recipient=people["auditor"]).exists()


def test_nobody_is_told_of_their_own_act(in_review, people):
    sign(in_review, people["reviewer"], Decision.CHANGES_REQUESTED)
    review_services.comment_post(actor=people["reviewer"], version=in_review, body="x")
    version_event(in_review, "version.promoted", people["reviewer"], reason="r")
    dispatch.dispatch()

    mine = Notification.objects.filter(
        recipient=people["reviewer"], event__actor=people["reviewer"]
    )
    assert not mine.exists()
    assert not Notification.objects.filter(
        event__actor=people["engineer"], recipient=people["engineer"]
    ).exists()


def test_a_second_dispatch_of_the_same_events_makes_no_duplicate(version, engineer, people):
    review_services.review_request(actor=engineer, version=version)
    dispatch.dispatch()
    events = [Notification.objects.first().event]

    assert notifications.fan_out(events) == 2  # made again, and ignored by the constraint
    assert Notification.objects.count() == 2


def test_every_kind_is_declared_once_with_declared_actions():
    from registry.audit.actions import ACTIONS

    actions = [a for kind in notifications.KINDS.values() for a in kind.actions]
    assert all(action in ACTIONS for action in actions)
    assert len(actions) == len(set(actions))
    # One mail per act: the sign-off that opens an objection is not a kind of its own.
    assert "signoff.changes_requested" not in notifications.BY_ACTION
    assert "signoff.rejected" not in notifications.BY_ACTION


# --- e-mail ----------------------------------------------------------------------------------


def test_email_goes_after_commit_to_those_who_want_it(
    version, engineer, people, published, django_capture_on_commit_callbacks
):
    EmailChoice.objects.create(user=people["risk_officer"], kind="review_requested", email=False)
    review_services.review_request(actor=engineer, version=version)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dispatch.dispatch()
        assert outbox.outbox == []  # nothing before the commit

    assert len(callbacks) == 1
    assert [m.to for m in outbox.outbox] == [["rev@example.com"]]
    message = outbox.outbox[0]
    assert message.subject == "Review requested: credit-default 1.0.0"
    assert "http://testserver.example/models/credit-default/versions/1.0.0/#signoff" in (
        message.body
    )
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert 'href="http://testserver.example/models/credit-default/versions/1.0.0/#signoff"' in html
    risk = Notification.objects.get(recipient=people["risk_officer"])
    assert (risk.email_wanted, risk.emailed_at) == (False, None)
    rev = Notification.objects.get(recipient=people["reviewer"])
    assert rev.email_wanted and rev.emailed_at is not None


def test_kinds_off_by_default_and_people_without_an_address_get_no_email(
    in_review, people, published, django_capture_on_commit_callbacks
):
    outbox.outbox.clear()
    people["engineer2"].email = ""
    people["engineer2"].save(update_fields=["email"])
    EmailChoice.objects.create(user=people["engineer"], kind="comment_posted", email=True)
    sign(in_review, people["risk_officer"], Decision.CHANGES_REQUESTED)
    review_services.comment_post(actor=people["reviewer"], version=in_review, body="x")

    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch()

    sent = sorted((m.to[0], m.subject) for m in outbox.outbox)
    assert sent == [
        ("eng@example.com", "credit-default 1.0.0: changes requested by risk"),
        ("eng@example.com", "rev commented on credit-default 1.0.0"),
    ]
    # risk took part (signed) and is told of the comment in the inbox only: off by default.
    assert Notification.objects.get(recipient=people["risk_officer"], kind="comment_posted")


def test_the_sweep_sends_what_a_broken_broker_left(
    version, engineer, people, monkeypatch, django_capture_on_commit_callbacks
):
    def down(notification_id: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(queue, "email_publish", down)
    review_services.review_request(actor=engineer, version=version)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch()
    assert outbox.outbox == []
    assert mail.mail_sweep() == 0  # not yet a minute old: its task may still come

    Notification.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    assert mail.mail_sweep() == 2

    assert sorted(m.to[0] for m in outbox.outbox) == ["rev@example.com", "risk@example.com"]
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    assert mail.mail_sweep() == 0  # sent once


def test_a_mail_server_that_fails_leaves_the_email_owed(version, engineer, people, settings):
    review_services.review_request(actor=engineer, version=version)
    dispatch.dispatch()
    Notification.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1

    assert mail.mail_sweep() == 0

    assert Notification.objects.filter(email_wanted=True, emailed_at__isnull=True).count() == 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mail.mail_sweep() == 2


def test_the_sweep_has_a_beat_entry(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-notification-emails"]
    assert entry["task"] == "events.tasks.sweep_notification_emails"
    from events import tasks

    assert tasks.sweep_notification_emails.name == entry["task"]
    assert tasks.send_notification_email.name == queue.SEND_EMAIL


# --- the choices -----------------------------------------------------------------------------


def test_choices_default_to_each_kind_and_are_saved(people):
    user = people["reviewer"]
    assert notifications.email_wanted_by(user) == {
        key: kind.email for key, kind in notifications.KINDS.items()
    }

    notifications.email_choices_set(actor=user, wanted=["comment_posted"])

    wanted = notifications.email_wanted_by(user)
    assert wanted["comment_posted"] is True
    assert wanted["review_requested"] is False
    assert EmailChoice.objects.filter(user=user).count() == len(notifications.KINDS)


def test_signoffs_before_a_comment_count_only_if_made_before(in_review, people):
    review_services.comment_post(actor=people["engineer"], version=in_review, body="x")
    sign(in_review, people["reviewer"], Decision.CHANGES_REQUESTED)
    dispatch.dispatch()

    assert SignOff.objects.filter(user=people["reviewer"]).exists()
    assert "rev" not in told("comment_posted")
