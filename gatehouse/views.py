"""Error pages: friendly HTML for people, the API's JSON error shape under /api/."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views import csrf, defaults

from registry.api.errors import error_body, json_error, new_request_id, server_error_body

logger = logging.getLogger("gatehouse.api")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400: a malformed request (too big a body, too many fields, a bad host)."""
    if _is_api(request):
        return json_error(error_body("Bad request.", "bad_request"), 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403 outside DRF's own handling."""
    if _is_api(request):
        return json_error(
            error_body("You do not have permission to perform this action.", "forbidden"), 403
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404, including unknown /api/ URLs."""
    if _is_api(request):
        return json_error(error_body("Not found.", "not_found"), 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: the page and the JSON name nothing of the cause (Django logs the traceback)."""
    if _is_api(request):
        request_id = new_request_id()
        # Django's own log line with the traceback follows this one.
        logger.error(
            "Unhandled error, request id %s: %s %s", request_id, request.method, request.path
        )
        response = json_error(server_error_body(request_id), 500)
        response["X-Request-ID"] = request_id
        return response
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A failed CSRF check: templates/403_csrf.html, or JSON under /api/."""
    if _is_api(request):
        return json_error(error_body(f"CSRF failed: {reason}", "csrf_failed"), 403)
    return csrf.csrf_failure(request, reason=reason)
