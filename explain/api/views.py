"""Report API views: list, read, request again with other params; and version registration,
which queues the new version's reports."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import selectors as registry_selectors
from registry.api import serializers as registry_s
from registry.api.pagination import Pages
from registry.api.parsers import JSONParser, MultiPartParser
from registry.api.views import paginated
from registry.errors import InvalidInput, NotFound, TooLarge
from registry.selectors import version_for_user

from .. import selectors, services
from . import serializers as s


class ReportListView(APIView):
    """A version's reports, or ask for one with other params (the old one stays)."""

    pagination_class = Pages

    @extend_schema(responses=s.ReportSummaryOutput(many=True))
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        reports = selectors.reports_of(obj)
        if kind := request.query_params.get("kind"):
            reports = reports.filter(kind=kind)
        return paginated(request, self, reports, s.ReportSummaryOutput)

    @extend_schema(
        request=s.ReportRequestInput, responses={201: s.ReportOutput, 200: s.ReportOutput}
    )
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.ReportRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.report_request(
            actor=request.user, token=request.auth, version=obj, **data.validated_data
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(s.ReportOutput(result.report).data, status=code)


class ReportDetailView(APIView):
    """One report: status, progress, result, files."""

    @extend_schema(responses=s.ReportOutput)
    def get(self, request, name: str, version: str, report_id: int):
        obj = version_for_user(request.user, name, version, request.auth)
        report = selectors.reports_of(obj).filter(pk=report_id).first()
        if report is None:
            raise NotFound("No such report for this version.")
        return Response(s.ReportOutput(report).data)


# Registering a version queues its reports, so the registration endpoint lives above
# registry, which never imports explain.


def _refuse_oversized(request) -> None:
    """413 before reading a body over the limit, and for any single oversized file."""
    limit = settings.GATEHOUSE_MAX_UPLOAD_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise TooLarge(f"The upload is larger than the limit of {limit // (1024 * 1024)} MB.")


class VersionListView(APIView):
    """List a model's versions, or register a candidate (multipart)."""

    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = Pages

    @extend_schema(responses=registry_s.VersionOutput(many=True))
    def get(self, request, name: str):
        model = registry_selectors.model_for_user(request.user, name, request.auth)
        versions = registry_selectors.model_versions(model).select_related("model")
        if status_filter := request.query_params.get("status"):
            versions = versions.filter(status=status_filter)
        return paginated(request, self, versions, registry_s.VersionOutput)

    @extend_schema(
        request={
            "multipart/form-data": OpenApiRequest(
                registry_s.VersionRegisterInput,
                encoding={"metadata": {"contentType": "application/json"}},
            )
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request safely: the same key and content return the same version",
            )
        ],
        responses={201: registry_s.VersionOutput, 200: registry_s.VersionOutput},
    )
    def post(self, request, name: str):
        _refuse_oversized(request)
        model = registry_selectors.model_for_user(request.user, name, request.auth)
        data = registry_s.VersionRegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["evaluation_data"]
        model_upload = data.validated_data.get("model")
        for part in (upload, model_upload):
            if part is not None and part.size > settings.GATEHOUSE_MAX_UPLOAD_BYTES:
                raise TooLarge("A file is larger than the upload limit.")
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            raise InvalidInput.for_field("Idempotency-Key", "At most 200 characters.")
        result = services.version_register(
            actor=request.user,
            token=request.auth,
            model=model,
            metadata=data.validated_data["metadata"],
            evaluation_file=upload,
            evaluation_filename=upload.name,
            model_file=model_upload,
            model_filename=model_upload.name if model_upload else "",
            idempotency_key=key,
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        response = Response(registry_s.VersionOutput(result.version).data, status=code)
        response["Location"] = registry_s.VersionOutput().get_url(result.version)
        return response
