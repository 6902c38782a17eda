"""Reviews API views: parse, call one service or selector, render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.pagination import Pages
from registry.api.views import paginated
from registry.errors import NotFound
from registry.selectors import model_for_user, version_for_user

from .. import gates, selectors, services
from ..models import SignOff
from ..policies import policy_current
from . import serializers as s


def _standing_of(signoff: SignOff) -> gates.SignOffStanding:
    """How the gates judge a just-recorded sign-off."""
    result = gates.evaluate(signoff.version)
    return next(x for x in result.standings if x.signoff.pk == signoff.pk)


class ReviewRequestView(APIView):
    """Send a registered version to review."""

    @extend_schema(request=s.ReviewRequestInput, responses={201: s.ReviewRequestOutput})
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.ReviewRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_request(actor=request.user, version=obj, **data.validated_data)
        return Response(s.ReviewRequestOutput(review).data, status=status.HTTP_201_CREATED)


class SignOffListView(APIView):
    """A version's sign-offs and whether each still counts, or sign off (people only)."""

    @extend_schema(responses=s.SignOffOutput(many=True))
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return Response(s.SignOffOutput(gates.evaluate(obj).standings, many=True).data)

    @extend_schema(
        request=s.SignOffInput,
        responses={201: s.SignedOutput},
        description="An electronic signature: re-enter your password every time. "
        "CI accounts never sign.",
    )
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.SignOffInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        signoff = services.signoff_record(
            actor=request.user,
            version=obj,
            decision=fields["decision"],
            password=fields["password"],
            comment=fields["comment"],
            role=fields["role"] or None,
            request=request,
        )
        return Response(s.SignedOutput(_standing_of(signoff)).data, status=status.HTTP_201_CREATED)


class CommentListView(APIView):
    """A version's review conversation in the order written, or post in it (people only)."""

    pagination_class = Pages

    @extend_schema(responses=s.CommentOutput(many=True))
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return paginated(request, self, selectors.comments_of(obj), s.CommentOutput)

    @extend_schema(
        request=s.CommentInput,
        responses={201: s.CommentOutput},
        description="The owning team's engineers, reviewers and risk officers, and admins, "
        "write; auditors and CI accounts read (403).",
    )
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = services.comment_post(actor=request.user, version=obj, **data.validated_data)
        return Response(s.CommentOutput(comment).data, status=status.HTTP_201_CREATED)


class ObjectionListView(APIView):
    """A version's objections (rejections and requests for changes), open or resolved."""

    @extend_schema(responses=s.ObjectionOutput(many=True))
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return Response(s.ObjectionOutput(selectors.objections_of(obj), many=True).data)


class ObjectionResolveView(APIView):
    """Mark an objection answered, so it no longer blocks promotion."""

    @extend_schema(
        request=s.ObjectionResolveInput,
        responses={200: s.ObjectionOutput},
        description="Whoever raised it, a risk officer of the owning team or an admin; "
        "409 when it is already resolved.",
    )
    def post(self, request, name: str, version: str, objection_id: int):
        obj = version_for_user(request.user, name, version, request.auth)
        objection = selectors.objections_of(obj).filter(pk=objection_id).first()
        if objection is None:
            raise NotFound("No such objection on this version.")
        data = s.ObjectionResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        resolved = services.objection_resolve(
            actor=request.user, objection=objection, **data.validated_data
        )
        return Response(s.ObjectionOutput(resolved).data)


class GatesView(APIView):
    """Every promotion gate of a version, each with pass/fail and its reason."""

    @extend_schema(responses=s.GatesOutput)
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return Response(gates.evaluate(obj).as_dict())


class PromoteView(APIView):
    """Put a version in production when every gate passes; the previous one is archived."""

    @extend_schema(
        request=s.PromoteInput,
        responses={200: s.ProductionEventOutput},
        description="409 with the failing gates in `errors.gates` when a gate fails, or when "
        'production is no longer the version named in `replaces` ("" for none).',
    )
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.PromoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.version_promote(actor=request.user, version=obj, **data.validated_data)
        return Response(s.ProductionEventOutput(event).data)


class RollbackView(APIView):
    """Return production to an archived version whose approvals still hold."""

    @extend_schema(
        request=s.RollbackInput,
        responses={200: s.ProductionEventOutput},
        description="409 with the failing gates when the version needs a new review, or when "
        "production is no longer the version named in `replaces`.",
    )
    def post(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        data = s.RollbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.version_rollback(actor=request.user, version=obj, **data.validated_data)
        return Response(s.ProductionEventOutput(event).data)


class TimelineView(APIView):
    """Which version was in production when, who approved it and why it ended."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description="Only the stretch in production at this moment (ISO 8601)",
            )
        ],
        responses=s.TimelineEntryOutput(many=True),
    )
    def get(self, request, name: str):
        model = model_for_user(request.user, name, request.auth)
        query = s.TimelineQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "at" in query.validated_data:
            entry = selectors.production_at(model, query.validated_data["at"])
            entries = [entry] if entry else []
        else:
            entries = selectors.timeline(model)
        return Response(s.TimelineEntryOutput(entries, many=True).data)


class ReviewPolicyView(APIView):
    """A model's current review policy, or save a new revision of it."""

    @extend_schema(responses=s.ReviewPolicyOutput)
    def get(self, request, name: str):
        model = model_for_user(request.user, name, request.auth)
        return Response(s.ReviewPolicyOutput(policy_current(model)).data)

    @extend_schema(
        request=s.ReviewPolicyUpdateInput,
        responses=s.ReviewPolicyOutput,
        description="Saves a new revision; approvals signed under older revisions stop counting.",
    )
    def patch(self, request, name: str):
        model = model_for_user(request.user, name, request.auth)
        data = s.ReviewPolicyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_update(actor=request.user, model=model, **data.validated_data)
        return Response(s.ReviewPolicyOutput(policy).data)
