"""Webhooks sent by real Celery workers on a real broker to a receiver process on loopback
that verifies every request with the ``standardwebhooks`` library: delivered; delivered with
the same id after the worker is SIGKILLed mid-request; nothing lost when the broker was down
while the events were written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from events import delivery, dispatch, signing
from events.models import Attempt, Cursor, Delivery, DeliveryStatus, Subscription
from registry.models import AuditEvent
from tests.builders import record

from .conftest import ROOT, publishing_to, wait_for

pytestmark = pytest.mark.integration

PROMOTED = "version.promoted"
TIMEOUT = 3  # the worker's GATEHOUSE_WEBHOOK_TIMEOUT: its claim lasts twice this and 5 s
WORKER_ENV = {
    "GATEHOUSE_WEBHOOK_ALLOW_HTTP": "true",
    "GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    "GATEHOUSE_WEBHOOK_TIMEOUT": str(TIMEOUT),
}


@dataclass
class ReceiverProcess:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def received(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


@pytest.fixture
def start_receiver(tmp_path) -> Iterator[Callable[..., ReceiverProcess]]:
    """Start ``tests.events.receiver`` processes; all are killed at teardown."""
    started: list[ReceiverProcess] = []

    def start(secret: str, *, stall_first: float = 0.0) -> ReceiverProcess:
        number = len(started) + 1
        port_file = tmp_path / f"receiver-{number}.port"
        log = tmp_path / f"receiver-{number}.jsonl"
        command = [sys.executable, "-m", "tests.events.receiver", "--secret", secret]
        command += ["--port-file", str(port_file), "--log", str(log)]
        command += ["--stall-first", str(stall_first)]
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        wait_for(lambda: port_file.exists() and port_file.read_text(), timeout=30, what="port")
        receiver = ReceiverProcess(process, int(port_file.read_text()), log)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        with suppress(ProcessLookupError):
            os.killpg(receiver.process.pid, signal.SIGKILL)
        receiver.process.wait(timeout=10)


@pytest.fixture
def loopback(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = True
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GATEHOUSE_WEBHOOK_TIMEOUT = TIMEOUT
    return settings


def from_now_on() -> None:
    """Start the dispatcher at the chain's head: the fixtures' own events are history."""
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    Cursor.objects.update_or_create(name=dispatch.CURSOR, defaults={"seq": head})


def all_delivered(count: int) -> Callable[[], bool]:
    def done() -> bool:
        return Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == count

    return done


def test_a_worker_delivers_signed_events_to_a_receiver_process(
    start_worker, start_receiver, redis_url, team, model, loopback
):
    secret = signing.new_secret()
    receiver = start_receiver(secret)
    Subscription.objects.create(team=team, url=receiver.url, secret=secret, event_types=["*"])
    from_now_on()
    with publishing_to(redis_url):
        start_worker(redis_url, **WORKER_ENV)
        record(3, model_name=model.name, action=PROMOTED)
        record(1, model_name="", action=PROMOTED)  # about no model: not delivered
        assert dispatch.dispatch() == 4
        wait_for(all_delivered(3), what="three deliveries")

    got = receiver.received()
    assert [line["verified"] for line in got] == [True, True, True]
    assert sorted(line["id"] for line in got) == sorted(
        Delivery.objects.values_list("message_id", flat=True)
    )
    assert {line["body"]["type"] for line in got} == {PROMOTED}
    assert Attempt.objects.filter(status_code=200).count() == 3


def test_a_worker_killed_mid_delivery_leaves_it_to_be_sent_again_under_the_same_id(
    start_worker, start_receiver, redis_url, team, model, loopback
):
    receiver_secret = signing.new_secret()
    # The first request is held far longer than the worker waits: the kill comes first.
    receiver = start_receiver(receiver_secret, stall_first=60)
    sub = Subscription.objects.create(
        team=team, url=receiver.url, secret=receiver_secret, event_types=["*"]
    )
    from_now_on()
    with publishing_to(redis_url):
        first = start_worker(redis_url, **WORKER_ENV)
        record(1, model_name=model.name, action=PROMOTED)
        dispatch.dispatch()
        wait_for(receiver.received, what="the first request to arrive")
        first.kill()

        (made,) = Delivery.objects.filter(subscription=sub)
        assert made.status == DeliveryStatus.PENDING
        assert made.attempts == 0
        assert made.claimed_until is not None  # the dead worker's claim
        assert not Attempt.objects.exists()

        # Its claim runs out; then the sweep sends the message again.
        wait_for(
            lambda: made.claimed_until < timezone.now(),
            timeout=2 * TIMEOUT + 10,
            what="the dead worker's claim to run out",
        )
        assert delivery.sweep() == 1
        start_worker(redis_url, **WORKER_ENV)
        wait_for(all_delivered(1), what="the delivery")

    made.refresh_from_db()
    assert made.attempts == 1
    got = receiver.received()
    assert [line["id"] for line in got] == [made.message_id, made.message_id]
    assert all(line["verified"] for line in got)


def test_events_written_while_the_broker_is_down_are_all_delivered_once_it_is_back(
    start_worker, start_receiver, redis_url, team, model, loopback
):
    secret = signing.new_secret()
    receiver = start_receiver(secret)
    Subscription.objects.create(team=team, url=receiver.url, secret=secret, event_types=["*"])
    from_now_on()
    with publishing_to("redis://127.0.0.1:6390/0"):  # nothing listens here
        record(5, model_name=model.name, action=PROMOTED)
        started = time.monotonic()
        assert dispatch.dispatch() == 5
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"the dispatch took {elapsed:.1f} s with the broker down"
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0).count() == 5

    with publishing_to(redis_url):
        # A worker that starts sweeps at once: the deliveries the broker never got are sent.
        start_worker(redis_url, **WORKER_ENV)
        wait_for(all_delivered(5), what="five deliveries")

    got = receiver.received()
    assert len(got) == 5
    assert all(line["verified"] for line in got)
    assert sorted(line["id"] for line in got) == sorted(
        Delivery.objects.values_list("message_id", flat=True)
    )
