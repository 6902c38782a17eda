"""The OpenAPI schema and the API docs page, served entirely from this host."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

REGISTRY_PATHS = [
    "/api/v1/models/",
    "/api/v1/models/{name}/",
    "/api/v1/models/{name}/objectives/",
    "/api/v1/models/{name}/versions/",
    "/api/v1/models/{name}/versions/{version}/",
    "/api/v1/auth/token/",
]


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return json.loads(response.content)


def test_the_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Gatehouse API"


def test_the_schema_lists_every_registry_path(schema):
    missing = [path for path in REGISTRY_PATHS if path not in schema["paths"]]

    assert not missing


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/models/", {"get", "post"}),
        ("/api/v1/models/{name}/", {"get", "patch"}),
        ("/api/v1/models/{name}/objectives/", {"get", "post"}),
        ("/api/v1/models/{name}/versions/", {"get", "post"}),
        ("/api/v1/models/{name}/versions/{version}/", {"get"}),
        ("/api/v1/auth/token/", {"post"}),
    ],
)
def test_each_path_documents_its_operations(schema, path, methods):
    operations = {
        m for m in schema["paths"][path] if m in {"get", "post", "patch", "put", "delete"}
    }

    assert operations == methods


def test_the_bearer_scheme_is_declared_and_used(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    listing = schema["paths"]["/api/v1/models/"]["get"]
    assert {"bearerAuth": []} in listing["security"]
    # Exchanging a password for a token needs no credentials (and nothing is required globally).
    assert "security" not in schema["paths"]["/api/v1/auth/token/"]["post"]
    assert "security" not in schema


def test_the_schema_documents_filters_and_the_idempotency_key(schema):
    listing = {p["name"] for p in schema["paths"]["/api/v1/models/"]["get"]["parameters"]}
    register = schema["paths"]["/api/v1/models/{name}/versions/"]["post"]

    assert {"team", "risk_tier"} <= listing
    assert "Idempotency-Key" in {p["name"] for p in register["parameters"]}
    assert "multipart/form-data" in register["requestBody"]["content"]


def test_the_schema_is_also_served_as_yaml(db):
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    assert body(response).startswith(b"openapi: 3.")
    assert b"/api/v1/models/{name}/objectives/:" in body(response)


def test_the_docs_page_loads_only_local_assets(db):
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    html = body(response).decode()
    assert "<title>Gatehouse API</title>" in html
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assets = scripts + styles
    assert any(url.endswith("swagger-ui-bundle.js") for url in scripts)
    assert any(url.endswith("swagger-ui.css") for url in styles)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    # Swagger UI's start-up script comes from this page's own URL, not inline (the CSP).
    assert "/api/docs/?script=" in scripts
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assets.remove("/api/docs/?script=")
    assert all(url.startswith("/static/") for url in assets), assets
    init = Client().get("/api/docs/?script=")
    assert init["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in body(init).decode()

    for url in assets:
        asset = Client().get(url)
        assert asset.status_code == 200, url
        assert len(body(asset)) > 100, url
