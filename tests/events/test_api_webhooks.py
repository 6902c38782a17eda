"""The webhooks API: every endpoint with its data; bad input is a 400 naming the field; CI
accounts are refused (403), outsiders told nothing exists (404), the anonymous asked to sign
in (401). The secret is in the answers to create and rotate only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services
from events.models import Attempt, Delivery, DeliveryStatus, Subscription
from tests.builders import client_for, events

URL = "https://ci.example.com/hooks/gatehouse"
BASE = "/api/v1/webhooks/"


@pytest.fixture
def sub(engineer, model) -> Subscription:
    return services.subscription_create(
        actor=engineer, model=model, url=URL, event_types=["version.*"], description="CI"
    )


@pytest.fixture
def api(engineer):
    return client_for(engineer)


def delivery(subscription: Subscription, n: int, **fields) -> Delivery:
    return Delivery.objects.create(
        subscription=subscription,
        event_type="version.registered",
        message_id=f"msg_{subscription.pk}_x{n}",
        payload={"type": "version.registered", "data": {"n": n}},
        **fields,
    )


def hint(secret: str) -> str:
    return f"whsec_…{secret[-4:]}"


# --- create and list -----------------------------------------------------------------------


def test_create_for_a_model_answers_the_secret_once(api, model):
    response = api.post(
        BASE,
        {"model": model.name, "url": URL, "event_types": ["version.*"], "description": "CI"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    stored = Subscription.objects.get()
    assert body["secret"] == stored.secret and body["secret_hint"] == hint(stored.secret)
    assert body["id"] == stored.pk and body["model"] == model.name and body["team"] is None
    assert body["url"] == URL and body["event_types"] == ["version.*"]
    assert body["is_active"] is True and body["created_by"] == "eng"
    assert body["deliveries_url"] == f"{BASE}{stored.pk}/deliveries/"
    assert events("webhook.created")[0].actor.username == "eng"

    listed = api.get(BASE).json()
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]
    assert listed["results"][0]["secret_hint"] == hint(stored.secret)
    detail = api.get(f"{BASE}{stored.pk}/").json()
    assert "secret" not in detail and stored.secret not in str(detail)


def test_create_for_a_team(api, team):
    response = api.post(BASE, {"team": team.slug, "url": URL, "event_types": ["*"]}, format="json")

    assert response.status_code == 201
    assert response.json()["team"] == team.slug and response.json()["model"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/in", "event_types": ["*"]}, "url"),
        ({"url": "no-scheme.example.com", "event_types": ["*"]}, "url"),
        ({"url": URL, "event_types": ["version.nonsense"]}, "event_types"),
        ({"url": URL, "event_types": []}, "event_types"),
        ({"url": URL, "event_types": "version.*"}, "event_types"),
        ({"event_types": ["*"]}, "url"),
        ({"url": URL}, "event_types"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, model, body, field):
    response = api.post(BASE, {"model": model.name, **body}, format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid" and list(error["errors"]) == [field]
    assert error["detail"].startswith(f"{field}:")
    assert not Subscription.objects.exists()


def test_neither_team_nor_model_is_a_400_naming_team(api):
    response = api.post(BASE, {"url": URL, "event_types": ["*"]}, format="json")

    assert response.status_code == 400 and list(response.json()["errors"]) == ["team"]


def test_the_list_holds_what_you_manage(api, sub, admin_user, other_model, outsider, reviewer):
    theirs = services.subscription_create(
        actor=admin_user, model=other_model, url=URL, event_types=["*"]
    )

    assert [row["id"] for row in api.get(BASE).json()["results"]] == [sub.pk]
    assert [row["id"] for row in client_for(outsider).get(BASE).json()["results"]] == [theirs.pk]
    assert client_for(reviewer).get(BASE).json()["results"] == []
    admin_ids = [row["id"] for row in client_for(admin_user).get(BASE).json()["results"]]
    assert admin_ids == [sub.pk, theirs.pk]


# --- one webhook ---------------------------------------------------------------------------


def test_patch_changes_it(api, sub):
    response = api.patch(
        f"{BASE}{sub.pk}/", {"event_types": ["version.promoted"], "url": URL + "/2"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["event_types"] == ["version.promoted"]
    sub.refresh_from_db()
    assert sub.url == URL + "/2" and sub.event_types == ["version.promoted"]


def test_patch_with_a_bad_type_names_the_field(api, sub):
    response = api.patch(f"{BASE}{sub.pk}/", {"event_types": ["nope.nope"]}, format="json")

    assert response.status_code == 400 and list(response.json()["errors"]) == ["event_types"]


def test_delete(api, sub):
    assert api.delete(f"{BASE}{sub.pk}/").status_code == 204
    assert not Subscription.objects.exists()
    assert api.get(f"{BASE}{sub.pk}/").status_code == 404


def test_rotate_answers_the_new_secret(api, sub):
    response = api.post(f"{BASE}{sub.pk}/rotate-secret/")

    assert response.status_code == 200
    stored = Subscription.objects.get()
    assert response.json()["secret"] == stored.secret != sub.secret
    assert stored.previous_secret == sub.secret
    assert response.json()["previous_until"] is not None


def test_disable_and_enable(api, sub):
    off = api.post(f"{BASE}{sub.pk}/disable/")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert off.json()["disabled_reason"] == "Disabled by hand."
    assert api.post(f"{BASE}{sub.pk}/test/").status_code == 409

    on = api.post(f"{BASE}{sub.pk}/enable/")
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert on.json()["disabled_at"] is None


def test_test_event(api, sub):
    response = api.post(f"{BASE}{sub.pk}/test/")

    assert response.status_code == 201
    body = response.json()
    stored = Delivery.objects.get()
    assert body["id"] == stored.pk and body["event_type"] == "webhook.tested"
    assert body["status"] == "pending" and body["attempts"] == 0
    assert body["message_id"] == stored.message_id and body["seq"] == stored.event.seq


# --- deliveries ----------------------------------------------------------------------------


def test_deliveries_newest_first_with_their_last_answer(api, sub):
    first = delivery(sub, 1, status=DeliveryStatus.FAILED, attempts=2)
    Attempt.objects.create(delivery=first, status_code=None, error="connection refused")
    Attempt.objects.create(delivery=first, status_code=503, duration_ms=40, response="busy")
    second = delivery(sub, 2, status=DeliveryStatus.DELIVERED, attempts=1)

    body = api.get(f"{BASE}{sub.pk}/deliveries/").json()

    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]
    last = body["results"][1]
    assert (last["status"], last["attempts"], last["last_status_code"]) == ("failed", 2, 503)
    assert last["last_error"] == "" and last["last_attempt_at"] is not None
    assert body["results"][0]["last_status_code"] is None
    failed = api.get(f"{BASE}{sub.pk}/deliveries/?status=failed").json()
    assert [row["id"] for row in failed["results"]] == [first.pk]
    bad = api.get(f"{BASE}{sub.pk}/deliveries/?status=lost")
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["status"]


def test_one_delivery_with_every_attempt(api, sub):
    one = delivery(sub, 1, status=DeliveryStatus.FAILED, attempts=2)
    Attempt.objects.create(delivery=one, error="timed out after 15 s", duration_ms=15000)
    Attempt.objects.create(delivery=one, status_code=500, duration_ms=12, response="oops")

    body = api.get(f"{BASE}{sub.pk}/deliveries/{one.pk}/").json()

    assert body["payload"] == {"type": "version.registered", "data": {"n": 1}}
    assert [
        (a["status_code"], a["duration_ms"], a["error"], a["response"]) for a in body["attempt_log"]
    ] == [
        (500, 12, "", "oops"),
        (None, 15000, "timed out after 15 s", ""),
    ]
    assert all(a["started_at"] for a in body["attempt_log"])


def test_a_delivery_of_another_webhook_is_not_found(api, sub, engineer, model):
    other = services.subscription_create(actor=engineer, model=model, url=URL, event_types=["*"])
    foreign = delivery(other, 1)

    response = api.get(f"{BASE}{sub.pk}/deliveries/{foreign.pk}/")

    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_redeliver_by_ids_and_by_range(api, sub):
    now = timezone.now()
    old = delivery(sub, 1, status=DeliveryStatus.FAILED, created_at=now - timedelta(days=2))
    recent = delivery(sub, 2, status=DeliveryStatus.FAILED, created_at=now - timedelta(hours=2))

    by_id = api.post(f"{BASE}{sub.pk}/redeliver/", {"deliveries": [old.pk]}, format="json")
    assert by_id.status_code == 202 and by_id.json() == {"count": 1}
    old.refresh_from_db()
    assert old.status == DeliveryStatus.PENDING

    since = (now - timedelta(days=1)).isoformat()
    by_range = api.post(
        f"{BASE}{sub.pk}/redeliver/", {"since": since, "until": now.isoformat()}, format="json"
    )
    assert by_range.status_code == 202 and by_range.json() == {"count": 1}
    recent.refresh_from_db()
    assert recent.status == DeliveryStatus.PENDING
    assert len(events("webhook.redelivered")) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "deliveries"),
        ({"deliveries": [123456]}, "deliveries"),
        ({"deliveries": ["x"]}, "deliveries.0"),
        ({"deliveries": [2**70]}, "deliveries.0"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_redeliver_bad_input_names_the_field(api, sub, body, field):
    response = api.post(f"{BASE}{sub.pk}/redeliver/", body, format="json")

    assert response.status_code == 400 and list(response.json()["errors"]) == [field]


# --- who is refused ------------------------------------------------------------------------

ENDPOINTS = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "rotate-secret/"),
    ("post", "enable/"),
    ("post", "disable/"),
    ("post", "test/"),
    ("get", "deliveries/"),
    ("get", "deliveries/{did}/"),
    ("post", "redeliver/"),
]


def call(client, sub: Subscription, did: int, method: str, tail: str):
    body = {"deliveries": [did]} if tail == "redeliver/" else {"description": "x"}
    path = f"{BASE}{sub.pk}/{tail.format(did=did)}"
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "tail"), ENDPOINTS)
def test_refusals(sub, ci, outsider, reviewer, auditor, method, tail):
    did = delivery(sub, 1, status=DeliveryStatus.FAILED).pk
    answers = {
        "ci": call(client_for(secret=ci[2]), sub, did, method, tail).status_code,
        "reviewer": call(client_for(reviewer), sub, did, method, tail).status_code,
        "auditor": call(client_for(auditor), sub, did, method, tail).status_code,
        "outsider": call(client_for(outsider), sub, did, method, tail).status_code,
        "anonymous": call(client_for(), sub, did, method, tail).status_code,
    }

    assert answers == {
        "ci": 403,
        "reviewer": 403,
        "auditor": 403,
        "outsider": 404,
        "anonymous": 401,
    }
    stored = Subscription.objects.get()
    assert (stored.description, stored.secret, stored.is_active) == ("CI", sub.secret, True)
    assert Delivery.objects.get().status == DeliveryStatus.FAILED


def test_ci_and_outsiders_on_the_list(ci, outsider, model, team):
    body = {"model": model.name, "url": URL, "event_types": ["*"]}
    assert client_for(secret=ci[2]).get(BASE).status_code == 403
    assert client_for(secret=ci[2]).post(BASE, body, format="json").status_code == 403
    assert client_for(outsider).post(BASE, body, format="json").status_code == 404
    team_body = {"team": team.slug, "url": URL, "event_types": ["*"]}
    assert client_for(outsider).post(BASE, team_body, format="json").status_code == 404
    assert client_for().get(BASE).status_code == 401
    assert not Subscription.objects.exists()


def test_a_reviewer_of_the_team_is_refused_not_misled(reviewer, model):
    body = {"model": model.name, "url": URL, "event_types": ["*"]}

    response = client_for(reviewer).post(BASE, body, format="json")

    assert response.status_code == 403 and response.json()["code"] == "forbidden"
