"""Downloading a bundle: the response both the web page and the API send, and the API view."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from registry.api.audit import IgnoreClientFormat
from registry.selectors import version_for_user

from .build import Bundle
from .export import bundle_export


def bundle_response(bundle: Bundle) -> FileResponse:
    """The bundle as a download, with its manifest digest and the number of the audit event
    that recorded the export in headers (the version page shows both after a download)."""
    response = FileResponse(
        bundle.file, as_attachment=True, filename=bundle.filename, content_type="application/zip"
    )
    response["Content-Length"] = str(bundle.size)
    response["X-Bundle-Manifest-SHA256"] = bundle.manifest_sha256
    if bundle.audit_seq is not None:
        response["X-Audit-Event-Seq"] = str(bundle.audit_seq)
    response["Cache-Control"] = "no-store"
    return response


class VersionBundleView(APIView):
    """A version's audit bundle as a zip (auditors and admins)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientFormat

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="report.html, report.pdf, reports/, audit/ and manifest.json; "
                "the X-Bundle-Manifest-SHA256 header is recorded in bundle.exported, "
                "whose number is the X-Audit-Event-Seq header",
            ),
            403: OpenApiResponse(description="Only auditors and admins export bundles"),
            404: OpenApiResponse(description="No such model or version for you"),
        },
    )
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return bundle_response(bundle_export(actor=request.user, version=obj))
