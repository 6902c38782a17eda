"""The webhook pages: a model's and a team's list with the form that adds one (the secret
shown once), one webhook's page with its deliveries and attempts, and its actions. The team's
engineers and admins; others who see the model are refused, outsiders told nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events import services
from events.models import Attempt, Delivery, DeliveryStatus, Subscription
from tests.builders import events, web

URL = "https://ci.example.com/hooks/gatehouse"


@pytest.fixture
def sub(engineer, model) -> Subscription:
    return services.subscription_create(
        actor=engineer, model=model, url=URL, event_types=["version.*"], description="CI"
    )


def delivery(subscription: Subscription, n: int, **fields) -> Delivery:
    return Delivery.objects.create(
        subscription=subscription,
        event_type="version.promoted",
        message_id=f"msg_{subscription.pk}_x{n}",
        payload={"type": "version.promoted"},
        **fields,
    )


def text(response) -> str:
    return response.content.decode()


# --- the lists and the form ----------------------------------------------------------------


def test_the_model_page_links_webhooks_for_those_who_manage_them(engineer, reviewer, model):
    link = reverse("model-webhooks", args=[model.name])

    assert link in text(web(engineer).get(reverse("model-detail", args=[model.name])))
    assert link not in text(web(reviewer).get(reverse("model-detail", args=[model.name])))


@pytest.mark.parametrize("who", ["engineer", "admin_user"])
def test_the_model_list_shows_each_webhook(request, sub, who):
    Attempt.objects.create(
        delivery=delivery(sub, 1, status=DeliveryStatus.DELIVERED, attempts=1), status_code=204
    )

    response = web(request.getfixturevalue(who)).get(
        reverse("model-webhooks", args=["credit-default"])
    )

    assert response.status_code == 200
    page = text(response)
    assert URL in page and "version.*" in page and "active" in page and "delivered" in page
    assert reverse("webhook-detail", args=[sub.pk]) in page
    assert sub.secret not in page


def test_creating_shows_the_secret_once(engineer, model):
    client = web(engineer)
    path = reverse("model-webhooks", args=[model.name])

    response = client.post(
        path,
        {"url": URL, "event_types": "version.promoted, version.rolled_back", "description": ""},
    )

    assert response.status_code == 200
    stored = Subscription.objects.get()
    assert stored.event_types == ["version.promoted", "version.rolled_back"]
    assert stored.model == model and stored.secret in text(response)
    assert "Copy it now" in text(response)
    assert "no-store" in response["Cache-Control"]
    assert stored.secret not in text(client.get(path))
    assert stored.secret not in text(client.get(reverse("webhook-detail", args=[stored.pk])))
    assert f"whsec_…{stored.secret[-4:]}" in text(
        client.get(reverse("webhook-detail", args=[stored.pk]))
    )


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"url": "ftp://x.example.com", "event_types": "*"}, "Payload URL", "http"),
        ({"url": URL, "event_types": "version.nonsense"}, "Event types", "Unknown event type"),
        ({"url": URL, "event_types": " , "}, "Event types", "at least one"),
        ({"url": "", "event_types": "*"}, "Payload URL", "required"),
    ],
)
def test_bad_input_is_the_form_again_naming_the_field(engineer, model, data, field, words):
    response = web(engineer).post(reverse("model-webhooks", args=[model.name]), data)

    assert response.status_code == 400
    page = text(response)
    assert 'role="alert"' in page and f"{field}</a>:" in page and words in page
    assert not Subscription.objects.exists()


def test_the_team_list(engineer, admin_user, team):
    services.subscription_create(actor=admin_user, team=team, url=URL, event_types=["*"])
    path = reverse("team-webhooks", args=[team.slug])

    for who in (engineer, admin_user):
        response = web(who).get(path)
        assert response.status_code == 200 and URL in text(response) and team.name in text(response)
    created = web(engineer).post(path, {"url": URL + "/2", "event_types": "*"})
    assert created.status_code == 200
    assert Subscription.objects.filter(team=team, url=URL + "/2").exists()


def test_refused_people(reviewer, auditor, outsider, sub, model, team):
    paths = [
        reverse("model-webhooks", args=[model.name]),
        reverse("team-webhooks", args=[team.slug]),
        reverse("webhook-detail", args=[sub.pk]),
    ]

    assert [web(reviewer).get(p).status_code for p in paths] == [403, 403, 403]
    assert [web(auditor).get(p).status_code for p in paths] == [403, 403, 403]
    assert [web(outsider).get(p).status_code for p in paths] == [404, 404, 404]
    assert web(outsider).post(paths[0], {"url": URL, "event_types": "*"}).status_code == 404
    assert Subscription.objects.count() == 1


# --- one webhook ---------------------------------------------------------------------------


def test_the_webhook_page_lists_deliveries_with_their_attempts(engineer, admin_user, sub):
    failed = delivery(sub, 1, status=DeliveryStatus.FAILED, attempts=2)
    Attempt.objects.create(delivery=failed, error="connection refused")
    Attempt.objects.create(delivery=failed, status_code=503, duration_ms=41, response="overloaded")
    delivery(sub, 2)

    for who in (engineer, admin_user):
        response = web(who).get(reverse("webhook-detail", args=[sub.pk]))
        assert response.status_code == 200
        page = text(response)
        assert page.index(f"msg_{sub.pk}_x2") < page.index(f"msg_{sub.pk}_x1")  # newest first
        assert "HTTP 503 in 41 ms" in page and "overloaded" in page
        assert "connection refused" in page
        assert "Redeliver the 1 failed delivery" in page
        assert "<caption" in page and sub.secret not in page


def test_deliveries_come_a_page_at_a_time(engineer, sub):
    for n in range(30):
        delivery(sub, n)
    path = reverse("webhook-detail", args=[sub.pk])

    first, second = text(web(engineer).get(path)), text(web(engineer).get(path + "?page=2"))

    assert f"msg_{sub.pk}_x29<" in first and f"msg_{sub.pk}_x4<" not in first
    assert f"msg_{sub.pk}_x4<" in second and "Page 2 of 2" in second


def test_send_a_test_event(engineer, sub):
    client = web(engineer)

    response = client.post(reverse("webhook-test", args=[sub.pk]))

    assert response.status_code == 302
    stored = Delivery.objects.get()
    assert stored.event_type == "webhook.tested" and stored.subscription == sub
    assert "webhook.tested" in text(client.get(response["Location"]))


def test_redeliver_one_or_every_failed(engineer, sub):
    one = delivery(sub, 1, status=DeliveryStatus.FAILED)
    two = delivery(sub, 2, status=DeliveryStatus.FAILED)
    path = reverse("webhook-redeliver", args=[sub.pk])

    assert web(engineer).post(path, {"delivery": one.pk}).status_code == 302
    assert Delivery.objects.get(pk=one.pk).status == DeliveryStatus.PENDING
    assert Delivery.objects.get(pk=two.pk).status == DeliveryStatus.FAILED
    assert web(engineer).post(path, {"failed": "on"}).status_code == 302
    assert Delivery.objects.get(pk=two.pk).status == DeliveryStatus.PENDING
    refused = web(engineer).post(path, {})
    assert refused.status_code == 400 and 'role="alert"' in text(refused)


def test_rotate_shows_the_new_secret_once(engineer, sub):
    response = web(engineer).post(reverse("webhook-rotate-secret", args=[sub.pk]))

    stored = Subscription.objects.get()
    assert response.status_code == 200 and stored.secret in text(response)
    assert stored.previous_secret == sub.secret and sub.secret not in text(response)
    assert events("webhook.secret_rotated")


def test_disable_refuses_a_test_then_enable(engineer, sub):
    client = web(engineer)

    assert client.post(reverse("webhook-disable", args=[sub.pk])).status_code == 302
    refused = client.post(reverse("webhook-test", args=[sub.pk]))
    assert refused.status_code == 409 and "enable it first" in text(refused)
    assert client.post(reverse("webhook-enable", args=[sub.pk])).status_code == 302
    assert Subscription.objects.get().is_active and not Delivery.objects.exists()


def test_change_with_a_bad_event_type_names_the_field(engineer, sub):
    path = reverse("webhook-edit", args=[sub.pk])

    refused = web(engineer).post(path, {"url": URL, "event_types": "nope.nope"})
    assert refused.status_code == 400 and "Event types</a>:" in text(refused)
    saved = web(engineer).post(path, {"url": URL, "event_types": "*", "description": "all"})
    assert saved.status_code == 302
    stored = Subscription.objects.get()
    assert stored.event_types == ["*"] and stored.description == "all"


def test_delete_goes_back_to_the_list(engineer, sub, model):
    response = web(engineer).post(reverse("webhook-delete", args=[sub.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("model-webhooks", args=[model.name])
    assert not Subscription.objects.exists() and events("webhook.deleted")


@pytest.mark.parametrize(
    "name",
    [
        "webhook-test",
        "webhook-redeliver",
        "webhook-rotate-secret",
        "webhook-disable",
        "webhook-delete",
    ],
)
def test_refused_actions_change_nothing(reviewer, outsider, sub, name):
    path = reverse(name, args=[sub.pk])

    assert web(reviewer).post(path, {"failed": "on"}).status_code == 403
    assert web(outsider).post(path, {"failed": "on"}).status_code == 404
    stored = Subscription.objects.get()
    assert (stored.secret, stored.is_active) == (sub.secret, True)
    assert not Delivery.objects.exists()
