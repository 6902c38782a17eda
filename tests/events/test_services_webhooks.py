"""The webhook verbs: each checks who may manage the subscription, writes its audit event in
its transaction (never the secret), and hands the deliveries it makes due to the broker after
the commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events import queue, services
from events.models import Attempt, Delivery, DeliveryStatus, Subscription
from events.permissions import can_manage_subscription
from events.selectors import subscriptions_visible_to
from registry.errors import Conflict, InvalidInput, NotAllowed
from registry.models import AuditEvent
from tests.builders import events, record

URL = "https://ci.example.com/hooks/gatehouse"


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """The delivery ids handed to the broker (the boundary), once the transaction commits."""
    sent: list[int] = []
    monkeypatch.setattr(queue, "deliver_publish", sent.append)
    return sent


def subscribe(actor, model, **fields) -> Subscription:
    return services.subscription_create(
        actor=actor,
        model=model,
        url=fields.pop("url", URL),
        event_types=fields.pop("event_types", ["version.*"]),
        **fields,
    )


def delivery(subscription: Subscription, n: int, **fields) -> Delivery:
    return Delivery.objects.create(
        subscription=subscription,
        event_type="version.registered",
        message_id=f"msg_{subscription.pk}_x{n}",
        payload={"type": "version.registered"},
        **fields,
    )


def no_secret_in(event: AuditEvent, subscription: Subscription) -> bool:
    text = str(event.payload)
    return subscription.secret not in text and "whsec_" not in text


# --- create --------------------------------------------------------------------------------


def test_an_engineer_subscribes_a_url_to_the_models_events(engineer, model):
    sub = subscribe(engineer, model, description="  CI  ", event_types=["version.*", "*", "*"])

    stored = Subscription.objects.get()
    assert stored == sub and stored.model == model and stored.team is None
    assert stored.url == URL and stored.description == "CI"
    assert stored.event_types == ["version.*", "*"]
    assert stored.secret.startswith("whsec_") and len(stored.secret) == 6 + 32
    assert stored.is_active and stored.created_by == engineer
    (event,) = events("webhook.created")
    assert event.actor == engineer and event.model_name == "credit-default"
    assert event.object_id == str(sub.pk)
    assert event.payload == {
        "id": sub.pk,
        "team": None,
        "model": "credit-default",
        "url": URL,
        "event_types": ["version.*", "*"],
        "description": "CI",
    }
    assert no_secret_in(event, sub)


def test_a_team_subscription_is_recorded_without_a_model_name(engineer, team):
    sub = services.subscription_create(
        actor=engineer, team=team, url="http://10.0.0.1:8080/in", event_types=["*"]
    )

    (event,) = events("webhook.created")
    assert sub.team == team and event.model_name == "" and event.payload["team"] == team.slug


def test_each_secret_is_new(engineer, model):
    assert subscribe(engineer, model).secret != subscribe(engineer, model).secret


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"url": "ftp://example.com/x"}, "url", "http"),
        ({"url": "not a url"}, "url", "http"),
        ({"url": ""}, "url", "URL"),
        ({"url": "https://example.com/" + "a" * 2000}, "url", "2000"),
        ({"event_types": []}, "event_types", "at least one"),
        ({"event_types": ["version.nonsense"]}, "event_types", "Unknown event type"),
        ({"event_types": ["nothing.*"]}, "event_types", "No event type starts"),
        ({"event_types": "version.*"}, "event_types", "at least one"),
        ({"description": "x" * 201}, "description", "200"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(engineer, model, fields, field, words):
    with pytest.raises(InvalidInput) as refused:
        subscribe(engineer, model, **fields)

    assert list(refused.value.errors) == [field]
    assert words in refused.value.errors[field][0]
    assert not Subscription.objects.exists() and not events("webhook.created")


def test_a_team_or_a_model_not_both(engineer, team, model):
    with pytest.raises(InvalidInput) as refused:
        services.subscription_create(
            actor=engineer, team=team, model=model, url=URL, event_types=["*"]
        )

    assert list(refused.value.errors) == ["team"]


@pytest.mark.parametrize("who", ["reviewer", "risk_officer", "auditor", "outsider"])
def test_others_may_not_subscribe(request, model, who):
    with pytest.raises(NotAllowed):
        subscribe(request.getfixturevalue(who), model)

    assert not Subscription.objects.exists() and not events("webhook.created")


def test_an_admin_subscribes_any_team(admin_user, other_team):
    sub = services.subscription_create(
        actor=admin_user, team=other_team, url=URL, event_types=["*"]
    )

    assert sub.team == other_team


# --- change, delete ------------------------------------------------------------------------


def test_update_changes_what_is_given_and_records_old_and_new(engineer, model):
    sub = subscribe(engineer, model)

    services.subscription_update(
        actor=engineer, subscription=sub, url=URL + "/v2", event_types=["version.promoted"]
    )

    sub.refresh_from_db()
    assert sub.url == URL + "/v2" and sub.event_types == ["version.promoted"]
    (event,) = events("webhook.changed")
    assert event.payload == {
        "id": sub.pk,
        "changes": {
            "url": {"old": URL, "new": URL + "/v2"},
            "event_types": {"old": ["version.*"], "new": ["version.promoted"]},
        },
    }


def test_an_update_that_changes_nothing_records_nothing(engineer, model):
    sub = subscribe(engineer, model)

    services.subscription_update(actor=engineer, subscription=sub, url=URL)

    assert not events("webhook.changed")


def test_a_bad_update_is_refused_whole(engineer, model):
    sub = subscribe(engineer, model)

    with pytest.raises(InvalidInput) as refused:
        services.subscription_update(
            actor=engineer, subscription=sub, url=URL + "/v2", event_types=["nope"]
        )

    assert list(refused.value.errors) == ["event_types"]
    sub.refresh_from_db()
    assert sub.url == URL and not events("webhook.changed")


def test_delete_takes_the_deliveries_with_it(engineer, model):
    sub = subscribe(engineer, model)
    Attempt.objects.create(delivery=delivery(sub, 1), status_code=500)

    services.subscription_delete(actor=engineer, subscription=sub)

    assert not Subscription.objects.exists() and not Delivery.objects.exists()
    (event,) = events("webhook.deleted")
    assert event.payload["url"] == URL and event.object_id == str(sub.pk)
    assert no_secret_in(event, sub)


@pytest.mark.parametrize(
    "verb",
    [
        lambda actor, sub: services.subscription_update(
            actor=actor, subscription=sub, url=URL + "/x"
        ),
        lambda actor, sub: services.subscription_delete(actor=actor, subscription=sub),
        lambda actor, sub: services.subscription_rotate_secret(actor=actor, subscription=sub),
        lambda actor, sub: services.subscription_disable(actor=actor, subscription=sub),
        lambda actor, sub: services.subscription_test(actor=actor, subscription=sub),
        lambda actor, sub: services.delivery_redeliver(
            actor=actor, subscription=sub, only_failed=True
        ),
    ],
    ids=["update", "delete", "rotate", "disable", "test", "redeliver"],
)
def test_a_reviewer_changes_nothing(engineer, reviewer, ci, model, verb):
    sub = subscribe(engineer, model)
    before = AuditEvent.objects.count()

    for actor in (reviewer, ci[0]):
        with pytest.raises(NotAllowed):
            verb(actor, sub)

    stored = Subscription.objects.get()
    assert (stored.url, stored.secret, stored.is_active) == (URL, sub.secret, True)
    assert AuditEvent.objects.count() == before and not Delivery.objects.exists()


# --- the secret, on and off ----------------------------------------------------------------


def test_rotation_keeps_the_old_secret_for_a_day(engineer, model):
    sub = subscribe(engineer, model)
    old = sub.secret

    rotated = services.subscription_rotate_secret(actor=engineer, subscription=sub)

    stored = Subscription.objects.get()
    assert stored.secret == rotated.secret != old and stored.secret.startswith("whsec_")
    assert stored.previous_secret == old
    assert (
        timedelta(hours=23, minutes=59)
        < stored.previous_until - timezone.now()
        <= timedelta(hours=24)
    )
    (event,) = events("webhook.secret_rotated")
    assert event.payload["id"] == sub.pk and "previous_until" in event.payload
    assert old not in str(event.payload) and no_secret_in(event, stored)


def test_disable_then_enable_forgets_the_failures(engineer, model):
    sub = subscribe(engineer, model)
    Subscription.objects.filter(pk=sub.pk).update(failing_since=timezone.now())

    services.subscription_disable(actor=engineer, subscription=sub)
    stored = Subscription.objects.get()
    assert not stored.is_active and stored.disabled_at is not None
    assert stored.disabled_reason == "Disabled by hand."

    services.subscription_enable(actor=engineer, subscription=stored)
    stored = Subscription.objects.get()
    assert stored.is_active and stored.disabled_at is None and stored.failing_since is None
    assert [e.payload for e in events("webhook.disabled")] == [
        {"id": sub.pk, "reason": "Disabled by hand."}
    ]
    assert [e.payload for e in events("webhook.enabled")] == [{"id": sub.pk}]


def test_enabling_an_enabled_webhook_records_nothing(engineer, model):
    sub = subscribe(engineer, model)

    services.subscription_enable(actor=engineer, subscription=sub)

    assert not events("webhook.enabled")


# --- redeliver and test --------------------------------------------------------------------


def test_redeliver_named_deliveries_keeps_their_ids(
    engineer, model, published, django_capture_on_commit_callbacks
):
    sub = subscribe(engineer, model)
    later = timezone.now() + timedelta(hours=3)
    failed = delivery(sub, 1, status=DeliveryStatus.FAILED, attempts=9, next_attempt_at=None)
    done = delivery(sub, 2, status=DeliveryStatus.DELIVERED, attempts=1, claimed_until=later)
    untouched = delivery(sub, 3, status=DeliveryStatus.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        count = services.delivery_redeliver(
            actor=engineer, subscription=sub, delivery_ids=[failed.pk, done.pk]
        )

    assert count == 2 and sorted(published) == [failed.pk, done.pk]
    for row in (failed, done):
        row.refresh_from_db()
        assert row.status == DeliveryStatus.PENDING and row.claimed_until is None
        assert row.next_attempt_at is not None and row.next_attempt_at <= timezone.now()
    assert (failed.message_id, done.message_id) == (f"msg_{sub.pk}_x1", f"msg_{sub.pk}_x2")
    untouched.refresh_from_db()
    assert untouched.status == DeliveryStatus.FAILED
    (event,) = events("webhook.redelivered")
    assert event.payload == {"id": sub.pk, "count": 2, "deliveries": [failed.pk, done.pk]}


def test_redeliver_a_time_range(engineer, model, published, django_capture_on_commit_callbacks):
    sub = subscribe(engineer, model)
    now = timezone.now()
    old = delivery(sub, 1, status=DeliveryStatus.FAILED, created_at=now - timedelta(days=3))
    inside = delivery(sub, 2, status=DeliveryStatus.FAILED, created_at=now - timedelta(hours=5))
    delivery(sub, 3, status=DeliveryStatus.FAILED, created_at=now)

    with django_capture_on_commit_callbacks(execute=True):
        count = services.delivery_redeliver(
            actor=engineer,
            subscription=sub,
            since=now - timedelta(days=1),
            until=now - timedelta(hours=1),
        )

    assert count == 1 and published == [inside.pk]
    old.refresh_from_db()
    assert old.status == DeliveryStatus.FAILED
    (event,) = events("webhook.redelivered")
    assert event.payload["count"] == 1 and "since" in event.payload and "until" in event.payload


def test_redeliver_every_failed_one(engineer, model, published, django_capture_on_commit_callbacks):
    sub = subscribe(engineer, model)
    failed = [delivery(sub, n, status=DeliveryStatus.FAILED) for n in range(3)]
    delivery(sub, 9, status=DeliveryStatus.DELIVERED)

    with django_capture_on_commit_callbacks(execute=True):
        count = services.delivery_redeliver(actor=engineer, subscription=sub, only_failed=True)

    assert count == 3 and sorted(published) == sorted(d.pk for d in failed)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "deliveries"),
        ({"delivery_ids": []}, "deliveries"),
        ({"delivery_ids": [987654]}, "deliveries"),
        ({"since": timezone.now(), "until": timezone.now() - timedelta(hours=1)}, "until"),
    ],
)
def test_redeliver_needs_deliveries_of_this_webhook(engineer, model, other_model, fields, field):
    sub = subscribe(engineer, model)

    with pytest.raises(InvalidInput) as refused:
        services.delivery_redeliver(actor=engineer, subscription=sub, **fields)

    assert list(refused.value.errors) == [field] and not events("webhook.redelivered")


def test_a_delivery_of_another_webhook_is_not_redelivered(engineer, admin_user, model):
    mine, theirs = subscribe(engineer, model), subscribe(admin_user, model)
    foreign = delivery(theirs, 1, status=DeliveryStatus.FAILED)

    with pytest.raises(InvalidInput):
        services.delivery_redeliver(actor=engineer, subscription=mine, delivery_ids=[foreign.pk])

    foreign.refresh_from_db()
    assert foreign.status == DeliveryStatus.FAILED


def test_a_disabled_webhook_is_neither_tested_nor_redelivered(engineer, model):
    sub = services.subscription_disable(actor=engineer, subscription=subscribe(engineer, model))

    with pytest.raises(Conflict):
        services.subscription_test(actor=engineer, subscription=sub)
    with pytest.raises(Conflict):
        services.delivery_redeliver(actor=engineer, subscription=sub, only_failed=True)

    assert not Delivery.objects.exists() and not events("webhook.tested")


def test_a_test_event_is_delivered_to_this_webhook_alone(
    engineer, model, published, django_capture_on_commit_callbacks
):
    sub = subscribe(engineer, model)
    subscribe(engineer, model)  # another webhook of the model: not sent the test
    record(1, action="model.updated")

    with django_capture_on_commit_callbacks(execute=True):
        sent = services.subscription_test(actor=engineer, subscription=sub)

    (event,) = events("webhook.tested")
    assert event.payload == {"id": sub.pk} and event.model_name == "credit-default"
    stored = Delivery.objects.get()
    assert stored == sent and stored.subscription == sub and stored.event == event
    assert stored.event_type == "webhook.tested" and stored.status == DeliveryStatus.PENDING
    assert stored.message_id == f"msg_{sub.pk}_{event.seq}"
    assert stored.payload["type"] == "webhook.tested"
    assert stored.payload["data"]["seq"] == event.seq
    assert stored.payload["data"]["hash"] == event.hash
    assert stored.next_attempt_at <= timezone.now()
    assert published == [stored.pk]


# --- reads ---------------------------------------------------------------------------------


def test_the_visible_subscriptions_are_those_the_predicate_lets_one_manage(
    request, engineer, admin_user, model, other_model, team, other_team, ci
):
    made = [
        subscribe(engineer, model),
        subscribe(admin_user, other_model),
        services.subscription_create(actor=admin_user, team=team, url=URL, event_types=["*"]),
        services.subscription_create(actor=admin_user, team=other_team, url=URL, event_types=["*"]),
    ]
    people = ["engineer", "reviewer", "risk_officer", "auditor", "admin_user", "outsider"]

    for who in [request.getfixturevalue(name) for name in people] + [ci[0]]:
        expected = [sub.pk for sub in made if can_manage_subscription(who, sub)]
        assert [sub.pk for sub in subscriptions_visible_to(who)] == expected, who
    assert [s.pk for s in subscriptions_visible_to(engineer)] == [made[0].pk, made[2].pk]
