"""Audit API: the trail as keyset pages of JSON, and the streamed CSV/JSONL export."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..audit import services
from ..audit.chain import event_content
from ..audit.encoders import FORMATS
from ..audit.exports import export_response
from ..audit.filters import AuditFilterForm
from ..audit.selectors import audit_page
from ..errors import InvalidInput, NotAllowed
from ..permissions import can_export_audit

FILTER_PARAMETERS = [
    OpenApiParameter("model", str, description="Exact model name"),
    OpenApiParameter("actor", str, description="Exact actor (username, or `system`)"),
    OpenApiParameter(
        "action", str, description="Exact action, or a prefix ending in a dot (`version.`)"
    ),
    OpenApiParameter(
        "from", str, description="From this date (YYYY-MM-DD, whole day) or ISO date-time"
    ),
    OpenApiParameter(
        "to", str, description="Up to this date (inclusive, whole day) or ISO date-time"
    ),
]


class AuditEventOutput(serializers.Serializer):
    """An event exactly as it is hashed, plus its hash: each one verifies on its own."""

    seq = serializers.IntegerField()
    created_at = serializers.CharField(help_text="UTC, microseconds: the hashed text form")
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    model = serializers.CharField()
    payload = serializers.JSONField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditPageOutput(serializers.Serializer):
    results = AuditEventOutput(many=True)
    next = serializers.CharField(allow_null=True, help_text="Older events (`?before=`)")
    previous = serializers.CharField(allow_null=True, help_text="Newer events (`?after=`)")


def _filter_form(request) -> AuditFilterForm:
    form = AuditFilterForm(request.query_params)
    if not form.is_valid():
        errors = form.field_errors()
        field, messages = next(iter(errors.items()))
        raise InvalidInput(f"{field}: {messages[0]}", errors=errors)
    return form


class AuditEventListView(APIView):
    """Audit events, newest first, by keyset pages of 50: the models you may see, or all of
    them for auditors and admins."""

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("before", int, description="Events with a lower seq (older page)"),
            OpenApiParameter("after", int, description="Events with a higher seq (newer page)"),
        ],
        responses=AuditPageOutput,
    )
    def get(self, request):
        form = _filter_form(request)
        filters = form.filters()
        page = audit_page(
            filters.apply(selectors.audit_events_visible_to(request.user)),
            before=form.cleaned_data.get("before"),
            after=form.cleaned_data.get("after"),
        )
        base = reverse("api:audit-events")
        query = filters.as_query()
        return Response(
            {
                "results": [event_content(event) for event in page.events],
                "next": f"{base}?{urlencode({**query, 'before': page.older})}"
                if page.older
                else None,
                "previous": f"{base}?{urlencode({**query, 'after': page.newer})}"
                if page.newer
                else None,
            }
        )


class IgnoreClientFormat(DefaultContentNegotiation):
    """For views that return files: ``?format=`` and ``Accept`` do not pick a DRF renderer
    (the view chooses the file type itself), so errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditExportView(APIView):
    """The filtered trail, oldest first, streamed as CSV or JSONL (auditors and admins).

    The export is recorded as an ``audit.exported`` event before the first row is sent.
    """

    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientFormat

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), default="jsonl"),
            *FILTER_PARAMETERS,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="CSV, one event a row"
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="JSON Lines, one event a line"
            ),
            403: OpenApiResponse(description="Only auditors and admins export"),
        },
    )
    def get(self, request):
        if not can_export_audit(request.user):
            raise NotAllowed(services.EXPORT_REFUSED)
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in FORMATS:
            raise InvalidInput.for_field("format", "Choose csv or jsonl.")
        filters = _filter_form(request).filters()
        export = services.audit_export(actor=request.user, fmt=fmt, filters=filters, via="api")
        return export_response(export)


class AuditHeadOutput(serializers.Serializer):
    """Where the chain ends: keep it outside Gatehouse, check it later with
    ``audit_verify --expect-head SEQ:HASH``."""

    seq = serializers.IntegerField()
    hash = serializers.CharField()
    at = serializers.CharField(allow_null=True, help_text="Time of event `seq` (UTC)")


class AuditHeadView(APIView):
    """The head of the audit chain now (auditors and admins), as an anchor to keep."""

    @extend_schema(
        responses={
            200: AuditHeadOutput,
            403: OpenApiResponse(description="Only auditors and admins read the head"),
        }
    )
    def get(self, request):
        anchor = services.audit_head(actor=request.user)
        return Response(AuditHeadOutput(anchor.as_dict()).data)
