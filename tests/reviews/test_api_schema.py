"""Every reviews endpoint is in the OpenAPI schema with its operations and input shapes."""

from __future__ import annotations

import json

import pytest
from django.test import Client

VERSION = "/api/v1/models/{name}/versions/{version}/"
OPERATIONS = {
    VERSION + "review-request/": {"post"},
    VERSION + "signoffs/": {"get", "post"},
    VERSION + "comments/": {"get", "post"},
    VERSION + "objections/": {"get"},
    VERSION + "objections/{objection_id}/resolve/": {"post"},
    VERSION + "gates/": {"get"},
    VERSION + "promote/": {"post"},
    VERSION + "rollback/": {"post"},
    "/api/v1/models/{name}/timeline/": {"get"},
    "/api/v1/models/{name}/review-policy/": {"get", "patch"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.parametrize(("path", "methods"), OPERATIONS.items())
def test_each_reviews_path_documents_its_operations(schema, path, methods):
    documented = {m for m in schema["paths"][path] if m in {"get", "post", "patch", "put"}}

    assert documented == methods


def body_schema(schema: dict, path: str, method: str) -> dict:
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_signing_documents_the_password_and_the_decisions(schema):
    body = body_schema(schema, VERSION + "signoffs/", "post")

    assert set(body["required"]) == {"decision", "password"}
    assert body["properties"]["password"]["writeOnly"] is True
    decisions = schema["components"]["schemas"]["DecisionEnum"]["enum"]
    assert decisions == ["approved", "rejected", "changes_requested", "fairness_override"]


def test_promotion_documents_replaces_and_rollback_requires_a_reason(schema):
    promote = body_schema(schema, VERSION + "promote/", "post")
    rollback = body_schema(schema, VERSION + "rollback/", "post")

    assert {"reason", "replaces"} <= set(promote["properties"])
    assert "reason" in rollback["required"]


def test_the_timeline_documents_the_moment_filter(schema):
    (parameter,) = [
        p
        for p in schema["paths"]["/api/v1/models/{name}/timeline/"]["get"]["parameters"]
        if p["name"] == "at"
    ]

    assert parameter["schema"] == {"type": "string", "format": "date-time"}


def test_an_unsaved_policy_may_have_no_author_or_date(schema):
    policy = schema["components"]["schemas"]["ReviewPolicyOutput"]["properties"]

    assert policy["created_by"]["nullable"] is True
    assert policy["created_at"]["nullable"] is True


@pytest.mark.parametrize(("path", "methods"), OPERATIONS.items())
def test_each_reviews_operation_declares_its_errors(schema, path, methods):
    for method in methods:
        responses = schema["paths"][path][method]["responses"]
        expected = {"400", "401", "403", "404", "429"} | (
            {"409", "413"} if method != "get" else set()
        )
        assert expected <= set(responses), (method, path)


def test_the_conversation_is_a_page_and_a_comment_needs_only_its_body(schema):
    listed = schema["paths"][VERSION + "comments/"]["get"]["responses"]["200"]["content"]
    page = listed["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    body = body_schema(schema, VERSION + "comments/", "post")
    objection = schema["components"]["schemas"]["ObjectionOutput"]["properties"]

    assert {"count", "next", "previous", "results"} <= set(
        schema["components"]["schemas"][page]["properties"]
    )
    assert body["required"] == ["body"]
    assert body["properties"]["reply_to"]["nullable"] is True
    assert objection["owner"]["nullable"] is True
    assert objection["resolved_by"]["nullable"] is True
