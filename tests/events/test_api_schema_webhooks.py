"""Every webhooks endpoint is in the OpenAPI schema with its operations, inputs and errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client

WEBHOOK = "/api/v1/webhooks/{webhook_id}/"
OPERATIONS = {
    "/api/v1/webhooks/": {"get", "post"},
    WEBHOOK: {"get", "patch", "delete"},
    WEBHOOK + "rotate-secret/": {"post"},
    WEBHOOK + "enable/": {"post"},
    WEBHOOK + "disable/": {"post"},
    WEBHOOK + "test/": {"post"},
    WEBHOOK + "deliveries/": {"get"},
    WEBHOOK + "deliveries/{delivery_id}/": {"get"},
    WEBHOOK + "redeliver/": {"post"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def component(schema: dict, ref: dict) -> dict:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


@pytest.mark.parametrize(("path", "methods"), OPERATIONS.items())
def test_each_webhooks_path_documents_its_operations(schema, path, methods):
    documented = {
        m for m in schema["paths"][path] if m in {"get", "post", "patch", "put", "delete"}
    }

    assert documented == methods


@pytest.mark.parametrize(("path", "methods"), OPERATIONS.items())
def test_each_webhooks_operation_declares_its_errors(schema, path, methods):
    for method in methods:
        assert {"401", "403", "404"} <= set(schema["paths"][path][method]["responses"])


def test_create_documents_its_body_and_the_secret_in_its_answer(schema):
    create = schema["paths"]["/api/v1/webhooks/"]["post"]
    body = component(schema, create["requestBody"]["content"]["application/json"]["schema"])
    answer = component(schema, create["responses"]["201"]["content"]["application/json"]["schema"])
    listed = schema["components"]["schemas"]["SubscriptionOutput"]["properties"]

    assert set(body["required"]) == {"url", "event_types"}
    assert {"team", "model", "description"} <= set(body["properties"])
    assert "secret" in answer["properties"] and "secret" not in listed


def test_deliveries_are_a_page(schema):
    listed = schema["paths"][WEBHOOK + "deliveries/"]["get"]["responses"]["200"]["content"]
    page = component(schema, listed["application/json"]["schema"])

    assert {"count", "next", "previous", "results"} <= set(page["properties"])


def test_a_delivery_status_is_its_own_named_enum(schema):
    status = schema["components"]["schemas"]["DeliveryStatusEnum"]

    assert status["enum"] == ["pending", "delivered", "failed"]
