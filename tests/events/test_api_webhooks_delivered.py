"""The webhooks API with the delivery engine behind it: a test event sent from the API reaches
a receiver on loopback that verifies it with the secret the API answered once; after a
rotation, a redelivery carries the same webhook-id, signed with the old and the new secret;
the API then shows each attempt."""

from __future__ import annotations

import pytest

from events import delivery as engine
from tests.builders import client_for
from tests.events.receiver import Receiver

BASE = "/api/v1/webhooks/"


@pytest.fixture
def receiver(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = True
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GATEHOUSE_WEBHOOK_TIMEOUT = 5
    started = Receiver().start()
    yield started
    started.stop()


def test_a_test_event_then_a_redelivery_after_rotation(engineer, model, receiver):
    api = client_for(engineer)
    created = api.post(
        BASE,
        {"model": model.name, "url": receiver.url, "event_types": ["version.*"]},
        format="json",
    ).json()
    first_secret = created["secret"]
    receiver.secrets.append(first_secret)
    hook = f"{BASE}{created['id']}/"

    sent = api.post(f"{hook}test/").json()
    engine.deliver(sent["id"])

    (got,) = receiver.received
    assert got.verified_with == [first_secret]
    assert got.id == sent["message_id"] and got.json()["type"] == "webhook.tested"
    assert got.json()["data"]["seq"] == sent["seq"] and got.json()["data"]["model"] == model.name

    second_secret = api.post(f"{hook}rotate-secret/").json()["secret"]
    receiver.secrets.append(second_secret)
    redelivered = api.post(f"{hook}redeliver/", {"deliveries": [sent["id"]]}, format="json")
    assert redelivered.json() == {"count": 1}
    engine.deliver(sent["id"])

    again = receiver.received[1]
    assert again.id == got.id and again.body == got.body
    assert sorted(again.verified_with) == sorted([first_secret, second_secret])
    detail = api.get(f"{hook}deliveries/{sent['id']}/").json()
    assert detail["status"] == "delivered" and detail["attempts"] == 2
    assert [(a["status_code"], a["response"]) for a in detail["attempt_log"]] == [
        (200, "ok"),
        (200, "ok"),
    ]
