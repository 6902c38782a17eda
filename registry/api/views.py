"""Registry API views: parse, call one service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .. import accounts, selectors, services
from ..errors import InvalidInput, NotAllowed
from ..models import Team
from . import serializers as s
from .pagination import Pages


def paginated(request, view: APIView, queryset, serializer_class) -> Response:
    """One page of ``queryset`` rendered with ``serializer_class``, by the view's
    ``pagination_class`` (which is also how the schema learns the page shape)."""
    paginator = view.pagination_class()  # type: ignore[attr-defined]  # set by each list view
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ModelListView(APIView):
    """List the models you may see, or register a new one."""

    pagination_class = Pages

    @extend_schema(
        responses=s.ModelOutput(many=True),
        parameters=[
            OpenApiParameter("team", str, description="Owner team slug"),
            OpenApiParameter("risk_tier", str, enum=["minimal", "limited", "high"]),
        ],
    )
    def get(self, request):
        models = selectors.models_visible_to(request.user, request.auth)
        if team := request.query_params.get("team"):
            models = models.filter(owner_team__slug=team)
        if tier := request.query_params.get("risk_tier"):
            models = models.filter(risk_tier=tier)
        return paginated(request, self, models.select_related("created_by"), s.ModelOutput)

    @extend_schema(request=s.ModelCreateInput, responses={201: s.ModelOutput})
    def post(self, request):
        data = s.ModelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        team = Team.objects.filter(slug=fields.pop("owner_team")).first()
        if team is None:
            raise InvalidInput.for_field("owner_team", "No team with this slug.")
        model = services.model_create(actor=request.user, owner_team=team, **fields)
        return Response(s.ModelOutput(model).data, status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    """Read or edit one model."""

    @extend_schema(responses=s.ModelOutput)
    def get(self, request, name: str):
        model = selectors.model_for_user(request.user, name, request.auth)
        return Response(s.ModelOutput(model).data)

    @extend_schema(request=s.ModelUpdateInput, responses=s.ModelOutput)
    def patch(self, request, name: str):
        model = selectors.model_for_user(request.user, name, request.auth)
        data = s.ModelUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.model_update(actor=request.user, model=model, **data.validated_data)
        return Response(s.ModelOutput(model).data)


class ObjectiveListView(APIView):
    """A model's business objectives with their KPIs."""

    @extend_schema(responses=s.ObjectiveOutput(many=True))
    def get(self, request, name: str):
        model = selectors.model_for_user(request.user, name, request.auth)
        objectives = model.objectives.prefetch_related("kpis")
        return Response(s.ObjectiveOutput(objectives, many=True).data)

    @extend_schema(request=s.ObjectiveCreateInput, responses={201: s.ObjectiveOutput})
    def post(self, request, name: str):
        model = selectors.model_for_user(request.user, name, request.auth)
        data = s.ObjectiveCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        objective = services.objective_create(
            actor=request.user, model=model, **data.validated_data
        )
        return Response(s.ObjectiveOutput(objective).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    """One version with its metadata and evaluation data description."""

    @extend_schema(responses=s.VersionOutput)
    def get(self, request, name: str, version: str):
        obj = selectors.version_for_user(request.user, name, version, request.auth)
        return Response(s.VersionOutput(obj).data)


class TokenCreateView(APIView):
    """Exchange a username and password for a personal API token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=s.TokenRequestInput, responses={201: s.TokenOutput}, auth=[])
    def post(self, request):
        data = s.TokenRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Through the login lockout: a locked account or address gets 429 with Retry-After,
        # and every failure is counted with the web login's and recorded in the audit log.
        user = accounts.password_check(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            raise NotAllowed("Wrong username or password.")
        issued = services.token_issue(
            actor=user,
            user=user,
            name=data.validated_data["name"],
            days=data.validated_data.get("days"),
        )
        body = {
            "token": issued.secret,
            "prefix": issued.token.prefix,
            "name": issued.token.name,
            "created_at": issued.token.created_at,
            "expires_at": issued.token.expires_at,
        }
        return Response(s.TokenOutput(body).data, status=status.HTTP_201_CREATED)
