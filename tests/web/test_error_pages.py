"""With DEBUG off, as `make run` and production run: errors show friendly pages to people
and the JSON error shape under /api/, never a traceback or a setting."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory

from gatehouse import views

from .error_urls import SECRET_DETAIL

pytestmark = pytest.mark.urls("tests.web.error_urls")


@pytest.fixture(autouse=True)
def _production_like(settings):
    settings.DEBUG = False
    settings.CELERY_BROKER_URL = "amqp://guest:hunter2-broker-secret@rabbit.internal:5672//"


def client() -> Client:
    return Client(raise_request_exception=False)


def assert_no_internals(text: str) -> None:
    for leaked in (
        SECRET_DETAIL,
        "Traceback",
        "RuntimeError",
        "hunter2-broker-secret",
        django_settings.SECRET_KEY,
        "CELERY_BROKER_URL",
        "DATABASES",
    ):
        assert leaked not in text


def test_a_failing_page_shows_the_friendly_500_page(db, caplog):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client().get("/boom/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "gatehouse.css" in html
    assert_no_internals(html)
    # The traceback goes to the server's log instead.
    assert any(SECRET_DETAIL in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_the_500_page_renders_without_the_database_or_a_request_context():
    """No `db` fixture: any query would fail the test."""
    response = views.server_error(RequestFactory().get("/boom/"))

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_an_unknown_page_is_a_friendly_404(db):
    response = client().get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


def test_a_forbidden_page_is_a_friendly_403(db):
    response = client().get("/forbidden/")

    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    assert "private reason" not in response.content.decode()


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [("/domain-not-found/", 404, "Page not found"), ("/domain-not-allowed/", 403, "Not allowed")],
)
def test_a_page_whose_service_refuses_shows_the_matching_page(db, url, status, title):
    """NotFound and NotAllowed from any page become the 404 and 403 pages in one place."""
    response = client().get(url)

    assert response.status_code == status
    html = response.content.decode()
    assert title in html
    assert "secret-model" not in html and "private reason" not in html


def test_a_failed_csrf_check_on_a_page_is_friendly(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "x"})

    assert response.status_code == 403
    assert "Form expired" in response.content.decode()


# --- /api/ -------------------------------------------------------------------------------


def test_an_api_view_that_raises_returns_the_json_500_shape(db, engineer, caplog):
    api = client()
    api.force_login(engineer)

    with caplog.at_level(logging.ERROR, logger="gatehouse.api"):
        response = api.get("/api/v1/boom/")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    request_id = response["X-Request-ID"]
    assert body == {
        "detail": f"Internal server error (request id {request_id}).",
        "code": "server_error",
        "errors": {},
    }
    assert_no_internals(response.content.decode())
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and SECRET_DETAIL in str(logged[0].exc_info[1])


def test_a_non_drf_view_under_api_that_raises_returns_json_500(db):
    response = client().get("/api/raw-boom/")

    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert response["X-Request-ID"] in body["detail"]
    assert_no_internals(response.content.decode())


def test_an_unknown_api_url_is_a_json_404(db):
    response = client().get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found", "errors": {}}


def test_too_many_fields_on_the_api_is_a_json_400(db, engineer, settings, caplog):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    api = client()
    api.force_login(engineer)

    with caplog.at_level(logging.ERROR, logger="django.security"):
        response = api.post("/api/v1/boom/", {f"f{i}": "x" for i in range(10)})

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request", "errors": {}}
    assert "django.security.TooManyFieldsSent" in {r.name for r in caplog.records}


def test_too_big_a_body_on_a_plain_api_url_is_a_json_400(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = client().post(
        "/api/form/", "big=" + "x" * 1000, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request", "errors": {}}


def test_a_failed_csrf_check_under_api_is_json(db):
    response = Client(enforce_csrf_checks=True).post("/api/form/", {"a": "b"})

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "csrf_failed"
    assert body["errors"] == {}
