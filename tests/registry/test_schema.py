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


# --- the contract schemathesis checks (tests/registry/test_api_fuzz.py) --------------------

ERROR_CODES = {"400", "401", "403", "404", "429"}
WRITE_ERROR_CODES = {"409", "413"}


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                yield path, method, operation


def resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_operation_declares_the_shared_error_responses(schema):
    error = {"$ref": "#/components/schemas/ErrorOutput"}
    missing = {}
    for path, method, operation in operations(schema):
        expected = ERROR_CODES | (WRITE_ERROR_CODES if method != "get" else set())
        declared = {
            code
            for code, response in operation["responses"].items()
            if response.get("content", {}).get("application/json", {}).get("schema") == error
        }
        if expected - declared:
            missing[f"{method.upper()} {path}"] = sorted(expected - declared)

    assert not missing
    shape = schema["components"]["schemas"]["ErrorOutput"]
    assert set(shape["required"]) == {"detail", "code", "errors"}
    assert shape["properties"]["errors"]["additionalProperties"]["type"] == "array"


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/api/v1/models/", "ModelOutput"),
        ("/api/v1/models/{name}/versions/", "VersionOutput"),
        ("/api/v1/models/{name}/versions/{version}/reports/", "ReportSummaryOutput"),
    ],
)
def test_list_endpoints_document_the_page_object(schema, path, item):
    operation = schema["paths"][path]["get"]
    page = resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])

    assert page["type"] == "object"
    assert set(page["required"]) >= {"count", "results"}
    assert page["properties"]["next"]["nullable"] is True
    assert page["properties"]["results"]["items"] == {"$ref": f"#/components/schemas/{item}"}
    assert {"limit", "offset"} <= {p["name"] for p in operation["parameters"]}


def test_unpaginated_lists_stay_arrays(schema):
    objectives = schema["paths"]["/api/v1/models/{name}/objectives/"]["get"]

    body = objectives["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert "limit" not in {p["name"] for p in objectives.get("parameters", [])}


def test_metadata_is_a_json_object_part_with_its_own_component(schema):
    register = schema["paths"]["/api/v1/models/{name}/versions/"]["post"]
    multipart = register["requestBody"]["content"]["multipart/form-data"]
    body = resolve(schema, multipart["schema"])
    metadata = body["properties"]["metadata"]
    ref = metadata["allOf"][0] if "allOf" in metadata else metadata
    component = resolve(schema, ref)

    assert multipart["encoding"] == {"metadata": {"contentType": "application/json"}}
    assert component["type"] == "object"
    assert {"version", "artifact_sha256", "columns"} <= set(component["required"])
    assert body["properties"]["evaluation_data"]["format"] == "binary"


def test_nullable_people_are_declared_nullable(schema):
    components = schema["components"]["schemas"]

    assert components["ModelOutput"]["properties"]["created_by"]["nullable"] is True
    assert components["ReportOutput"]["properties"]["requested_by"]["nullable"] is True
