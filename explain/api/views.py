"""Report API views: list, read, request again with other params."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.pagination import Pages
from registry.api.views import paginated
from registry.errors import NotFound
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
