"""Input and output shapes of the webhooks API. Serializers validate types and shape output;
the rules of a subscription (URL, event types) are the services', so the pages share them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse
from rest_framework import serializers

from ..models import Attempt, Delivery, DeliveryStatus, Subscription
from ..selectors import secret_hint

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from registry.models import RegisteredModel, Team


# --- subscriptions -------------------------------------------------------------------------


class SubscriptionCreateInput(serializers.Serializer):
    team = serializers.SlugField(
        required=False, help_text="Slug of the team whose models' events are sent (or `model`)"
    )
    model = serializers.SlugField(
        required=False, help_text="Name of the one model whose events are sent (or `team`)"
    )
    url = serializers.CharField(
        help_text="The http(s) URL that receives the events (https in production)"
    )
    event_types = serializers.ListField(
        child=serializers.CharField(),
        allow_empty=True,
        help_text='Event types: an audit action ("version.promoted"), a family ("version.*") '
        'or "*"',
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class SubscriptionUpdateInput(serializers.Serializer):
    url = serializers.CharField(required=False)
    event_types = serializers.ListField(
        child=serializers.CharField(), allow_empty=True, required=False
    )
    description = serializers.CharField(required=False, allow_blank=True)


class SubscriptionOutput(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    secret_hint = serializers.SerializerMethodField(
        help_text="The secret's last 4 characters; the secret is shown on create and rotate only"
    )
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields: tuple[str, ...] = (
            "id",
            "team",
            "model",
            "url",
            "description",
            "event_types",
            "secret_hint",
            "previous_until",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "created_by",
            "created_at",
            "deliveries_url",
        )

    def get_secret_hint(self, obj: Subscription) -> str:
        return secret_hint(obj.secret)

    def get_deliveries_url(self, obj: Subscription) -> str:
        return reverse("api:webhook-deliveries", args=[obj.pk])


class SubscriptionSecretOutput(SubscriptionOutput):
    """A subscription with its whole secret: the answer to create and rotate, once."""

    secret = serializers.CharField(
        help_text='The signing secret ("whsec_…"): store it now, it is not shown again'
    )

    class Meta(SubscriptionOutput.Meta):
        fields = (*SubscriptionOutput.Meta.fields, "secret")


# --- deliveries ----------------------------------------------------------------------------


class AttemptOutput(serializers.ModelSerializer):
    response = serializers.CharField(help_text="The first 1 KB of the answer's body")

    class Meta:
        model = Attempt
        fields = ("started_at", "status_code", "duration_ms", "error", "response")


class DeliveryOutput(serializers.ModelSerializer):
    seq = serializers.IntegerField(
        source="event.seq", read_only=True, allow_null=True, help_text="The audit event's seq"
    )
    attempts = serializers.IntegerField(help_text="How many HTTP attempts were made")
    last_status_code = serializers.IntegerField(allow_null=True, read_only=True)
    last_error = serializers.CharField(allow_null=True, read_only=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True, read_only=True)

    class Meta:
        model = Delivery
        fields: tuple[str, ...] = (
            "id",
            "event_type",
            "seq",
            "message_id",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        )


class DeliveryDetailOutput(DeliveryOutput):
    attempt_log = AttemptOutput(many=True, read_only=True, help_text="Every attempt, newest first")

    class Meta(DeliveryOutput.Meta):
        fields = (*DeliveryOutput.Meta.fields, "payload", "attempt_log")


class DeliveryQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class RedeliverInput(serializers.Serializer):
    deliveries = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_empty=True,
        help_text="Ids of this webhook's deliveries to send again",
    )
    since = serializers.DateTimeField(
        required=False, help_text="Or: every delivery made from this moment (ISO 8601)…"
    )
    until = serializers.DateTimeField(required=False, help_text="…and before this one")
    only_failed = serializers.BooleanField(
        default=False, help_text="Only the failed ones among them (alone: every failed one)"
    )


class RedeliverOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many deliveries are due again")
