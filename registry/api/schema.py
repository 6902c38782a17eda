"""The OpenAPI schema's shared parts: the error response every operation may return, and the
JSON-encoded ``metadata`` part of a multipart registration.

``GatehouseAutoSchema`` is ``DEFAULT_SCHEMA_CLASS``, so a new view declares its errors
without a decorator.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_MEDIA_TYPES = ["application/json"]


class ErrorOutput(serializers.Serializer):
    """Every 4xx body (``registry.api.errors.exception_handler``)."""

    detail = serializers.CharField(help_text="What went wrong, in one sentence")
    code = serializers.CharField(help_text="Machine-readable: invalid, forbidden, not_found, ...")
    # The body's field is named "errors"; it shadows the stubs' Serializer.errors.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by dotted field path (`metadata.columns.label`); may be empty",
    )


# Status code -> when it is answered. Every operation may answer the first group; operations
# with a body also the second.
ANY_ERRORS = {
    400: "Invalid input or query; `errors` names each field at fault",
    401: "No credentials, or a wrong, expired or revoked token",
    403: "Authenticated, but not allowed to do this",
    404: "No such object, or one you may not see",
    429: "Too many requests; retry after the `Retry-After` seconds",
}
WRITE_ERRORS = {
    409: "Conflicts with the current state (a gate fails, a version exists, a race lost)",
    413: "The body, a file or a form field is over its size limit",
}


class GatehouseAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the shared error responses on every operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = dict(ANY_ERRORS)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes |= WRITE_ERRORS
        for code, description in codes.items():
            declared = responses.get(str(code), {})
            # A view may describe an error in its own words; the body is still the shared one.
            shared = self._get_response_for_code(
                OpenApiResponse(
                    ErrorOutput, description=declared.get("description") or description
                ),
                str(code),
                ERROR_MEDIA_TYPES,
                direction,
            )
            if "content" not in declared:
                responses[str(code)] = {**declared, **shared}
        return dict(sorted(responses.items()))


class JSONStringFieldExtension(OpenApiSerializerFieldExtension):
    """A multipart part holding a JSON document: documented as the object it carries (its
    own component), sent with ``encoding: {part: {contentType: application/json}}``."""

    target_class = "registry.api.serializers.JSONStringField"

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(self.target.serializer_class, direction).ref
