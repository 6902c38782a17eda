"""Webhooks API views: parse, call one service or selector, render. People only: CI accounts
are refused (403); a webhook of a team or model the caller does not see is not found (404)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.pagination import Pages
from registry.api.views import paginated
from registry.models import ApiToken
from registry.permissions import is_service_account, require
from registry.selectors import model_for_user

from .. import selectors, services
from ..models import Subscription
from ..permissions import can_manage_subscription
from . import serializers as s

PEOPLE_ONLY = "CI accounts do not manage webhooks; a person does, with a personal token."


def _person(request: Request) -> None:
    require(not is_service_account(request.user), PEOPLE_ONLY)


def _managed(request: Request, webhook_id: int) -> Subscription:
    """The subscription, 404 to whom its team or model is not visible, 403 to those who see
    it but may not manage it."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    subscription = selectors.subscription_for_user(request.user, webhook_id, token)
    require(not is_service_account(request.user), PEOPLE_ONLY)
    require(can_manage_subscription(request.user, subscription), services.REFUSED)
    return subscription


class WebhookListView(APIView):
    """The webhooks you manage, or subscribe a URL to a team's or a model's events."""

    pagination_class = Pages

    @extend_schema(responses=s.SubscriptionOutput(many=True))
    def get(self, request):
        _person(request)
        rows = selectors.subscriptions_visible_to(request.user)
        return paginated(request, self, rows, s.SubscriptionOutput)

    @extend_schema(
        request=s.SubscriptionCreateInput,
        responses={201: s.SubscriptionSecretOutput},
        description="Name a `team` (every model of it) or a `model`. The answer carries the "
        "signing secret, shown this once.",
    )
    def post(self, request):
        _person(request)
        data = s.SubscriptionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        team = (
            selectors.team_for_user(request.user, fields["team"], request.auth)
            if "team" in fields
            else None
        )
        model = (
            model_for_user(request.user, fields["model"], request.auth)
            if "model" in fields
            else None
        )
        subscription = services.subscription_create(
            actor=request.user,
            team=team,
            model=model,
            url=fields["url"],
            event_types=fields["event_types"],
            description=fields["description"],
        )
        return Response(
            s.SubscriptionSecretOutput(subscription).data, status=status.HTTP_201_CREATED
        )


class WebhookDetailView(APIView):
    """One webhook: read, change its URL, event types or description, or delete it."""

    @extend_schema(responses=s.SubscriptionOutput)
    def get(self, request, webhook_id: int):
        return Response(s.SubscriptionOutput(_managed(request, webhook_id)).data)

    @extend_schema(request=s.SubscriptionUpdateInput, responses=s.SubscriptionOutput)
    def patch(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        data = s.SubscriptionUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        changed = services.subscription_update(
            actor=request.user, subscription=subscription, **data.validated_data
        )
        return Response(s.SubscriptionOutput(changed).data)

    @extend_schema(responses={204: None}, description="Its deliveries and attempts go with it.")
    def delete(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        services.subscription_delete(actor=request.user, subscription=subscription)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    """A new signing secret; the old one keeps signing alongside it for 24 hours."""

    @extend_schema(request=None, responses=s.SubscriptionSecretOutput)
    def post(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        rotated = services.subscription_rotate_secret(actor=request.user, subscription=subscription)
        return Response(s.SubscriptionSecretOutput(rotated).data)


class WebhookEnableView(APIView):
    """Send to the webhook again (its failures so far are forgotten)."""

    @extend_schema(request=None, responses=s.SubscriptionOutput)
    def post(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        enabled = services.subscription_enable(actor=request.user, subscription=subscription)
        return Response(s.SubscriptionOutput(enabled).data)


class WebhookDisableView(APIView):
    """Stop sending to the webhook until it is enabled again."""

    @extend_schema(request=None, responses=s.SubscriptionOutput)
    def post(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        disabled = services.subscription_disable(actor=request.user, subscription=subscription)
        return Response(s.SubscriptionOutput(disabled).data)


class WebhookTestView(APIView):
    """Send a test event (`webhook.tested`) to this webhook alone."""

    @extend_schema(
        request=None,
        responses={201: s.DeliveryOutput},
        description="409 when the webhook is disabled.",
    )
    def post(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        delivery = services.subscription_test(actor=request.user, subscription=subscription)
        shown = selectors.delivery_of(subscription, delivery.pk)
        return Response(s.DeliveryOutput(shown).data, status=status.HTTP_201_CREATED)


class WebhookDeliveryListView(APIView):
    """The webhook's deliveries, newest first, each with its last attempt's answer."""

    pagination_class = Pages

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["pending", "delivered", "failed"])],
        responses=s.DeliveryOutput(many=True),
    )
    def get(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        query = s.DeliveryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.deliveries_of(subscription).select_related("event")
        if "status" in query.validated_data:
            rows = rows.filter(status=query.validated_data["status"])
        return paginated(request, self, rows, s.DeliveryOutput)


class WebhookDeliveryDetailView(APIView):
    """One delivery: its body and every attempt (status code, duration, error, answer)."""

    @extend_schema(responses=s.DeliveryDetailOutput)
    def get(self, request, webhook_id: int, delivery_id: int):
        subscription = _managed(request, webhook_id)
        delivery = selectors.delivery_of(subscription, delivery_id)
        return Response(s.DeliveryDetailOutput(delivery).data)


class WebhookRedeliverView(APIView):
    """Send deliveries again under their own `webhook-id`: by id, or made in a time range."""

    @extend_schema(
        request=s.RedeliverInput,
        responses={202: s.RedeliverOutput},
        description='`{"deliveries": [ids]}`, or `{"since": …, "until": …}`, or '
        '`{"only_failed": true}`; 409 when the webhook is disabled.',
    )
    def post(self, request, webhook_id: int):
        subscription = _managed(request, webhook_id)
        data = s.RedeliverInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        count = services.delivery_redeliver(
            actor=request.user,
            subscription=subscription,
            delivery_ids=fields.get("deliveries"),
            since=fields.get("since"),
            until=fields.get("until"),
            only_failed=fields["only_failed"],
        )
        return Response({"count": count}, status=status.HTTP_202_ACCEPTED)
