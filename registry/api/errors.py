"""The one place domain errors and DRF errors become JSON 4xx responses.

Every error body is ``{"detail": str, "code": str, "errors": {"dotted.field": [str]}}``,
including the 500 of an unexpected exception, which names a request id and nothing else.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ..errors import DomainError

logger = logging.getLogger("gatehouse.api")


def error_body(detail: str, code: str) -> dict[str, Any]:
    """The error shape with no field errors."""
    return {"detail": detail, "code": code, "errors": {}}


def json_error(body: dict[str, Any], status_code: int) -> JsonResponse:
    """A plain Django JSON error response, for errors raised outside DRF views."""
    return JsonResponse(body, status=status_code)


def server_error_body(request_id: str) -> dict[str, Any]:
    """What a client learns of an unexpected failure: that it happened, and its request id."""
    return error_body(f"Internal server error (request id {request_id}).", "server_error")


def new_request_id() -> str:
    """A short id that ties a 500 answer to its logged traceback."""
    return uuid.uuid4().hex[:16]


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into dotted field paths."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = (
                prefix
                if key == "non_field_errors" and prefix
                else f"{prefix}.{key}"
                if prefix
                else str(key)
            )
            for field, messages in flatten(value, name).items():
                out.setdefault(field, []).extend(messages)
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            for field, messages in flatten(
                item, f"{prefix}.{index}" if prefix else str(index)
            ).items():
                out.setdefault(field, []).extend(messages)
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc, context):
    """Map DomainError and DRF validation errors to one JSON shape."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code, "errors": exc.errors}
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        first = next(iter(errors.items()), ("", [""]))
        detail = f"{first[0]}: {first[1][0]}" if first[0] else "Invalid input."
        return Response(
            {"detail": detail, "code": "invalid", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, SuspiciousOperation):
        # Too big a body, too many fields: Django's 400, in the API's shape, logged where
        # Django logs it (django.security.<name>).
        logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
        set_rollback()
        return Response(error_body("Bad request.", "bad_request"), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    if isinstance(response.data, dict) and "detail" in response.data:
        response.data = {
            "detail": str(response.data["detail"]),
            "code": getattr(response.data["detail"], "code", "error"),
            "errors": {},
        }
    return response


def _server_error(exc: Exception, context: dict[str, Any]) -> Response:
    """An unexpected exception: the traceback goes to the log under a request id, the client
    gets the JSON shape with that id and no internals."""
    set_rollback()
    request = context.get("request")
    request_id = new_request_id()
    logger.error(
        "Unhandled API error, request id %s: %s %s",
        request_id,
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc_info=exc,
    )
    # Tell Django's listeners (the test client, error reporters) as its own handler would.
    got_request_exception.send(sender=None, request=getattr(request, "_request", request))
    response = Response(server_error_body(request_id), status=500)
    response["X-Request-ID"] = request_id
    return response
