"""Webhook delivery: the fan-out makes one delivery per matching subscription and event; a
delivery is claimed, signed, posted to a real receiver on loopback and its attempts stored;
failures are retried on the schedule under the same webhook-id; 410 and failing for days
disable the subscription; the sweep sends what is due and held by no one."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import delivery, dispatch, queue, signing, webhooks
from events.models import Attempt, Cursor, Delivery, DeliveryStatus, Subscription
from registry.models import AuditEvent, RegisteredModel
from tests.builders import record
from tests.events.receiver import Receiver

PROMOTED = "version.promoted"
REGISTERED = "version.registered"


class Clock:
    """``timezone.now`` moved on by hand: hours pass without sleeping."""

    def __init__(self) -> None:
        self.real = timezone.now
        self.offset = timedelta()

    def now(self) -> datetime:
        return self.real() + self.offset

    def move(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - self.real() + timedelta(milliseconds=1)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(timezone, "now", moved.now)
    return moved


@pytest.fixture
def loopback(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = True
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GATEHOUSE_WEBHOOK_TIMEOUT = 5
    return settings


@pytest.fixture
def receiver(loopback):
    started = Receiver().start()
    yield started
    started.stop()


def subscribe(url: str = "https://ci.example.com/hook", **fields) -> Subscription:
    fields.setdefault("event_types", ["*"])
    return Subscription.objects.create(url=url, secret=signing.new_secret(), **fields)


def fanned(subscription: Subscription) -> list[tuple[str, int]]:
    return sorted(
        (d.event_type, d.event.seq) for d in subscription.deliveries.select_related("event")
    )


def signed_by(secret: str, got) -> bool:
    """Whether one of the request's signatures is ``secret``'s (at its own timestamp: the
    library's verify also refuses a timestamp far from the real clock, which these tests move)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    text = f"{got.id}.{got.headers['webhook-timestamp']}.{got.body.decode()}".encode()
    digest = base64.b64encode(hmac.new(key, text, hashlib.sha256).digest()).decode()
    return f"v1,{digest}" in got.headers["webhook-signature"].split(" ")


# --- fan-out -------------------------------------------------------------------------------


def test_fan_out_follows_scope_and_event_types(db, team, model, other_model):
    sibling = RegisteredModel.objects.create(name="fraud", title="Fraud", owner_team=team)
    team_all = subscribe(team=team)
    team_versions = subscribe(team=team, event_types=["version.*"])
    model_promoted = subscribe(model=model, event_types=[PROMOTED])
    other = subscribe(team=other_model.owner_team)
    off = subscribe(team=team, is_active=False)
    promoted = record(1, model_name=model.name, action=PROMOTED)[0]
    registered = record(1, model_name=sibling.name, action=REGISTERED)[0]
    updated = record(1, model_name=model.name, action="model.updated")[0]
    record(1, model_name="", action="team.created")  # about no model: delivered nowhere

    made = webhooks.fan_out(AuditEvent.objects.filter(seq__gte=promoted.seq).order_by("seq"))

    assert made == 6
    assert fanned(team_all) == sorted(
        [(PROMOTED, promoted.seq), (REGISTERED, registered.seq), ("model.updated", updated.seq)]
    )
    assert fanned(team_versions) == sorted([(PROMOTED, promoted.seq), (REGISTERED, registered.seq)])
    assert fanned(model_promoted) == [(PROMOTED, promoted.seq)]
    assert fanned(other) == []
    assert fanned(off) == []

    made = Delivery.objects.get(subscription=model_promoted)
    assert made.message_id == f"msg_{model_promoted.pk}_{promoted.seq}"
    assert made.payload["type"] == PROMOTED
    assert made.payload["data"]["seq"] == promoted.seq
    assert made.payload["data"]["hash"] == promoted.hash
    assert made.status == DeliveryStatus.PENDING
    assert made.attempts == 0
    assert made.next_attempt_at <= timezone.now()


def test_fan_out_twice_makes_no_duplicates(db, team, model):
    sub = subscribe(team=team)
    events = record(3, model_name=model.name, action=PROMOTED)

    assert webhooks.fan_out(events) == 3
    assert webhooks.fan_out(events) == 3  # the same pending ones, found again
    assert sub.deliveries.count() == 3
    Delivery.objects.update(status=DeliveryStatus.DELIVERED)
    assert webhooks.fan_out(events) == 0


def test_fan_out_sends_the_messages_after_commit(
    db, team, model, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr(queue, "deliver_publish", sent.append)
    subscribe(team=team)
    subscribe(model=model)
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    Cursor.objects.filter(name=dispatch.CURSOR).update(seq=head)
    record(2, model_name=model.name, action=PROMOTED)

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch() == 2

    assert sorted(sent) == sorted(Delivery.objects.values_list("pk", flat=True))
    assert len(sent) == 4


def test_fan_out_reads_a_fixed_number_of_queries_whatever_the_batch(db, team, model, other_model):
    for _ in range(10):
        subscribe(team=team)
        subscribe(model=other_model)
    few = record(2, model_name=model.name, action=PROMOTED)
    many = record(40, model_name=other_model.name, action=PROMOTED) + record(
        40, model_name=model.name, action=REGISTERED
    )

    with CaptureQueriesContext(connection) as small:
        webhooks.fan_out(few)
    with CaptureQueriesContext(connection) as large:
        webhooks.fan_out(many)

    def reads(queries: CaptureQueriesContext) -> list[str]:
        return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("INSERT")]

    assert Delivery.objects.count() == 20 + 800
    # Rows are inserted in batches; the reads are the same few whatever the batch (the ids
    # are read back by chunks of 500: 800 rows take one more).
    assert len(reads(large)) <= len(reads(small)) + 1, reads(large)


# --- sending -------------------------------------------------------------------------------


def pending(sub: Subscription, n: int = 1, model_name: str = "credit-default") -> list[Delivery]:
    webhooks.fan_out(record(n, model_name=model_name, action=PROMOTED))
    return list(sub.deliveries.order_by("pk"))


def test_a_delivery_reaches_a_receiver_that_verifies_it(db, team, model, receiver):
    sub = subscribe(team=team, url=receiver.url)
    receiver.secrets = [sub.secret]
    receiver.default = (200, b"thanks " * 400, {})
    (made,) = pending(sub)

    assert delivery.deliver(made.pk) == DeliveryStatus.DELIVERED

    (got,) = receiver.received
    assert got.verified_with == [sub.secret]
    assert got.id == made.message_id
    assert got.json() == made.payload
    made.refresh_from_db()
    assert made.status == DeliveryStatus.DELIVERED
    assert made.attempts == 1
    assert made.delivered_at is not None
    assert made.claimed_until is None
    (attempt,) = made.attempt_log.all()
    assert attempt.status_code == 200
    assert attempt.error == ""
    assert attempt.response == ("thanks " * 400)[:1024]
    assert attempt.duration_ms < 5000


def test_a_duplicate_message_does_nothing(db, team, model, receiver):
    sub = subscribe(team=team, url=receiver.url)
    (made,) = pending(sub)
    # Another sender holds it.
    Delivery.objects.filter(pk=made.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))

    assert delivery.deliver(made.pk) is None
    assert receiver.received == []

    Delivery.objects.filter(pk=made.pk).update(claimed_until=None)
    assert delivery.deliver(made.pk) == DeliveryStatus.DELIVERED
    assert delivery.deliver(made.pk) is None  # delivered: nothing left to do
    assert delivery.deliver(999_999) is None  # a missing row: quietly nothing
    assert len(receiver.received) == 1
    assert Attempt.objects.count() == 1


def test_a_receiver_down_for_two_hours_gets_every_event_once_under_one_id(
    db, team, model, receiver, clock
):
    sub = subscribe(team=team, url=receiver.url)
    made = pending(sub, 3)
    receiver.stop()  # down: connections are refused
    went_down = timezone.now()

    failures = 0
    while timezone.now() < went_down + timedelta(hours=2):
        for row in made:
            row.refresh_from_db()
            if row.next_attempt_at <= timezone.now():
                assert delivery.deliver(row.pk) == DeliveryStatus.PENDING
                failures += 1
        clock.move_to(min(Delivery.objects.values_list("next_attempt_at", flat=True)))
    receiver.start()  # up again, on the same port
    for row in made:
        row.refresh_from_db()
        clock.move_to(max(timezone.now(), row.next_attempt_at))
        assert delivery.deliver(row.pk) == DeliveryStatus.DELIVERED

    # 0 s, 5 s, 5 min, 30 min, then 2 h after that: five attempts before the receiver is back.
    assert failures == 3 * 4
    by_id: dict[str, int] = {}
    for got in receiver.received:
        by_id[got.id] = by_id.get(got.id, 0) + 1
        assert signed_by(sub.secret, got)
    assert by_id == {row.message_id: 1 for row in made}
    for row in made:
        row.refresh_from_db()
        assert row.status == DeliveryStatus.DELIVERED
        assert row.attempts == 5
        errors = [a.error for a in row.attempt_log.order_by("pk")]
        assert all("refused" in e.lower() for e in errors[:4]), errors
        assert errors[4] == ""
    sub.refresh_from_db()
    assert sub.failing_since is None
    assert sub.is_active


def test_retries_wait_the_schedule_with_jitter_then_fail(
    db, team, model, receiver, clock, settings
):
    settings.GATEHOUSE_WEBHOOK_RETRY_SCHEDULE = [60, 600]
    receiver.default = (500, b"boom", {})
    sub = subscribe(team=team, url=receiver.url)
    (made,) = pending(sub)

    waits = []
    for _ in range(2):
        before = timezone.now()
        assert delivery.deliver(made.pk) == DeliveryStatus.PENDING
        made.refresh_from_db()
        waits.append((made.next_attempt_at - before).total_seconds())
        assert delivery.deliver(made.pk) is None  # not due yet
        clock.move_to(made.next_attempt_at)
    assert 54 <= waits[0] <= 66.5
    assert 540 <= waits[1] <= 660.5

    assert delivery.deliver(made.pk) == DeliveryStatus.FAILED
    made.refresh_from_db()
    assert made.attempts == 3
    assert made.next_attempt_at is None
    assert [a.status_code for a in made.attempt_log.all()] == [500, 500, 500]
    assert made.attempt_log.first().response == "boom"
    assert len({got.id for got in receiver.received}) == 1
    sub.refresh_from_db()
    assert sub.is_active
    assert sub.failing_since is not None


def test_the_default_schedule_retries_for_more_than_a_day(settings):
    assert sum(settings.GATEHOUSE_WEBHOOK_RETRY_SCHEDULE) * 0.9 >= 24 * 3600
    assert delivery.retry_delay(1) <= timedelta(seconds=5.5)
    assert delivery.retry_delay(len(settings.GATEHOUSE_WEBHOOK_RETRY_SCHEDULE) + 1) is None


def test_410_gone_disables_the_subscription(db, team, model, receiver):
    sub = subscribe(model=model, url=receiver.url)
    receiver.default = (410, b"gone", {})
    first, second = pending(sub, 2)

    assert delivery.deliver(first.pk) == DeliveryStatus.FAILED

    sub.refresh_from_db()
    assert not sub.is_active
    assert sub.disabled_at is not None
    assert sub.disabled_reason == "the receiver answered 410 Gone"
    second.refresh_from_db()
    assert second.status == DeliveryStatus.FAILED  # nothing more is sent to it
    assert delivery.deliver(second.pk) is None
    assert len(receiver.received) == 1
    (event,) = AuditEvent.objects.filter(action="webhook.disabled")
    assert event.actor is None
    assert event.actor_name == "system"
    assert event.model_name == model.name
    assert event.object_id == str(sub.pk)
    assert event.payload == {"url": sub.url, "reason": "the receiver answered 410 Gone"}
    # Disabled: later events are not fanned out to it.
    assert webhooks.fan_out(record(1, model_name=model.name, action=PROMOTED)) == 0


def test_a_subscription_failing_for_days_is_disabled(db, team, model, receiver, clock, settings):
    settings.GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS = 5
    receiver.default = (503, b"", {})
    sub = subscribe(team=team, url=receiver.url)

    (first,) = pending(sub)
    assert delivery.deliver(first.pk) == DeliveryStatus.PENDING
    sub.refresh_from_db()
    began = sub.failing_since
    assert began is not None

    clock.move(days=4, hours=23)
    second = pending(sub)[-1]
    assert delivery.deliver(second.pk) == DeliveryStatus.PENDING
    sub.refresh_from_db()
    assert sub.is_active
    assert sub.failing_since == began  # counted from the first failure

    clock.move(hours=1, seconds=1)
    third = pending(sub)[-1]
    assert delivery.deliver(third.pk) == DeliveryStatus.FAILED

    sub.refresh_from_db()
    assert not sub.is_active
    assert sub.disabled_reason == "failing for 5 days"
    assert set(sub.deliveries.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    (event,) = AuditEvent.objects.filter(action="webhook.disabled")
    assert event.payload["reason"] == "failing for 5 days"
    assert event.model_name == ""  # a team's subscription


def test_a_success_clears_failing_since(db, team, model, receiver):
    receiver.answers = [(500, b"", {})]
    sub = subscribe(team=team, url=receiver.url)
    first, second = pending(sub, 2)

    delivery.deliver(first.pk)
    sub.refresh_from_db()
    assert sub.failing_since is not None
    delivery.deliver(second.pk)
    sub.refresh_from_db()
    assert sub.failing_since is None


def test_a_rotated_secret_signs_every_attempt_twice_for_its_grace_period(
    db, team, model, receiver, clock
):
    old = signing.new_secret()
    sub = subscribe(
        team=team,
        url=receiver.url,
        previous_secret=old,
        previous_until=timezone.now() + timedelta(hours=24),
    )
    receiver.secrets = [old]  # a receiver not yet told the new secret
    (made,) = pending(sub)
    assert delivery.deliver(made.pk) == DeliveryStatus.DELIVERED

    receiver.secrets = [sub.secret]  # and one that already has it
    second = pending(sub)[-1]
    assert delivery.deliver(second.pk) == DeliveryStatus.DELIVERED

    first_got, second_got = receiver.received
    assert len(first_got.headers["webhook-signature"].split(" ")) == 2
    assert first_got.verified_with == [old]
    assert second_got.verified_with == [sub.secret]

    clock.move(hours=24, seconds=1)
    third = pending(sub)[-1]
    assert delivery.deliver(third.pk) == DeliveryStatus.DELIVERED
    last = receiver.received[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    assert signed_by(sub.secret, last)
    assert not signed_by(old, last)


def test_a_refused_address_is_a_failed_attempt(db, team, model, receiver, settings):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = []
    sub = subscribe(team=team, url=f"http://localhost:{receiver.port}/hook")
    (made,) = pending(sub)

    assert delivery.deliver(made.pk) == DeliveryStatus.PENDING

    (attempt,) = Attempt.objects.all()
    assert attempt.error == "refused: 127.0.0.1 is a loopback address"
    assert attempt.status_code is None
    assert receiver.received == []


def test_a_disabled_subscriptions_delivery_is_failed_without_a_request(db, team, model, receiver):
    sub = subscribe(team=team, url=receiver.url)
    (made,) = pending(sub)
    Subscription.objects.filter(pk=sub.pk).update(is_active=False)

    assert delivery.deliver(made.pk) == DeliveryStatus.FAILED
    assert receiver.received == []
    assert Attempt.objects.count() == 0


def test_a_secret_that_cannot_sign_is_a_failed_attempt(db, team, model, receiver):
    sub = subscribe(team=team, url=receiver.url)
    Subscription.objects.filter(pk=sub.pk).update(secret="whsec_not base64!")
    (made,) = pending(sub)

    assert delivery.deliver(made.pk) == DeliveryStatus.PENDING

    (attempt,) = Attempt.objects.all()
    assert attempt.error.startswith("cannot sign with the subscription's secret")
    assert receiver.received == []


def test_a_delivery_deleted_while_it_is_sent_is_left_alone(db, team, model, receiver, monkeypatch):
    sub = subscribe(team=team, url=receiver.url)
    (made,) = pending(sub)
    post = delivery.net.post

    def post_then_delete(*args, **kwargs):
        answer = post(*args, **kwargs)
        Subscription.objects.filter(pk=sub.pk).delete()
        return answer

    monkeypatch.setattr(delivery.net, "post", post_then_delete)

    assert delivery.deliver(made.pk) is None
    assert len(receiver.received) == 1
    assert not Delivery.objects.exists()


# --- the sweep -----------------------------------------------------------------------------


def test_the_sweep_sends_what_is_due_and_held_by_no_one(db, team, model, monkeypatch, clock):
    sent: list[int] = []
    monkeypatch.setattr(queue, "deliver_publish", sent.append)
    sub = subscribe(team=team)
    due, lost, held, later, done = pending(sub, 5)
    now = timezone.now()
    Delivery.objects.filter(pk=lost.pk).update(claimed_until=now - timedelta(seconds=1))
    Delivery.objects.filter(pk=held.pk).update(claimed_until=now + timedelta(seconds=30))
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(minutes=5))
    Delivery.objects.filter(pk=done.pk).update(status=DeliveryStatus.DELIVERED)

    assert delivery.sweep() == 2
    assert sorted(sent) == sorted([due.pk, lost.pk])

    clock.move(minutes=5, seconds=1)
    sent.clear()
    assert delivery.sweep() == 4
    assert sorted(sent) == sorted([due.pk, lost.pk, held.pk, later.pk])


def test_a_broker_down_stops_the_sweep_for_this_run(db, team, model, monkeypatch):
    def down(delivery_id: int) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(queue, "deliver_publish", down)
    sub = subscribe(team=team)
    pending(sub, 3)

    assert delivery.sweep() == 0
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3


def test_the_task_is_named_for_the_queue_and_acked_late():
    from events import tasks

    assert tasks.deliver.name == queue.DELIVER
    assert tasks.deliver.acks_late
    assert tasks.deliver.reject_on_worker_lost
